-- +goose Up
-- Service accounts: role 'service' joins 'customer' and 'admin'. SQLite
-- cannot change a CHECK in place, so the table is rebuilt with the wider
-- check and every row copied; no other table references users.

CREATE TABLE users_0002 (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL CHECK (email = lower(email)),
    display_name  TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('customer', 'admin', 'service')),
    password_hash TEXT NOT NULL,
    created_at    TIMESTAMP NOT NULL
);

INSERT INTO users_0002 (id, email, display_name, role, password_hash, created_at)
SELECT id, email, display_name, role, password_hash, created_at FROM users;

DROP TABLE users;
ALTER TABLE users_0002 RENAME TO users;

CREATE UNIQUE INDEX users_email_unique ON users (email);

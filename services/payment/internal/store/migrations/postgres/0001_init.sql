-- +goose Up
-- The payments of the payment service. Ids are UUIDv7 text, so they
-- sort in creation order; a user's listing walks the owner index in id order.
-- COLLATE "C" makes that order bytewise, as on SQLite.

CREATE TABLE payments (
    id         TEXT COLLATE "C" PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
    owner_id   TEXT NOT NULL CHECK (owner_id <> ''),
    name       TEXT NOT NULL CHECK (name <> ''),
    created_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX payments_owner_id ON payments (owner_id, id);

-- +goose Up
-- Accounts of the user service. Emails are stored lower case by the domain;
-- the unique index makes a duplicate registration fail even when two race.

CREATE TABLE users (
    id            UUID PRIMARY KEY,
    email         TEXT NOT NULL CHECK (email = lower(email)),
    display_name  TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('customer', 'admin')),
    password_hash TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL
);

CREATE UNIQUE INDEX users_email_unique ON users (email);

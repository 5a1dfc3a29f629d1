-- +goose Up
-- The notifications sent to users. event_id is UNIQUE: the event consumer's
-- inbox already stops a redelivered message, and this stops the same event
-- published again under another message id. Ids are UUIDv7 in canonical
-- lower-case form, so id order is creation order and (user_id, id) serves
-- "newest first" paging.

CREATE TABLE notifications (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    order_id   TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('ORDER_PLACED', 'ORDER_CANCELLED')),
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    event_id   TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL
);

CREATE INDEX notifications_user_id ON notifications (user_id, id DESC);

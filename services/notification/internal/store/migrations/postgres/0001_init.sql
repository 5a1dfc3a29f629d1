-- +goose Up
-- The notifications sent to users. event_id is UNIQUE: the event consumer's
-- inbox already stops a redelivered message, and this stops the same event
-- published again under another message id. Ids are UUIDv7, so id order is
-- creation order and (user_id, id) serves "newest first" paging.

CREATE TABLE notifications (
    id         UUID PRIMARY KEY,
    user_id    TEXT COLLATE "C" NOT NULL,
    order_id   TEXT COLLATE "C" NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('ORDER_PLACED', 'ORDER_CANCELLED')),
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    event_id   TEXT COLLATE "C" NOT NULL CONSTRAINT notifications_event_id_unique UNIQUE,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX notifications_user_id ON notifications (user_id, id DESC);

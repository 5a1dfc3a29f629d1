-- +goose Up
-- The delivery outbox: one row per notification to deliver through the
-- external channel (the webhook). The event consumer writes it in the
-- transaction that stores the notification, so the notification is visible
-- to its owner whatever the channel does, and the delivery worker drains it
-- after the commit. Each row has its own schedule (next_attempt_at), so a
-- notification that keeps failing holds back no other; after the last
-- attempt it is FAILED, a dead letter that keeps its (redacted) last_error.
-- attempts counts the attempts claimed so far; a claim pushes
-- next_attempt_at past its lease, so a worker that dies mid-send loses
-- nothing: the row comes due again. The store writes every time in UTC in
-- one text format, so text order is time order.

CREATE TABLE notification_deliveries (
    notification_id TEXT PRIMARY KEY REFERENCES notifications (id) ON DELETE CASCADE,
    state           TEXT NOT NULL DEFAULT 'PENDING' CHECK (state IN ('PENDING', 'DELIVERED', 'FAILED')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at TIMESTAMP NOT NULL,
    last_error      TEXT NOT NULL DEFAULT '',
    trace_context   TEXT NOT NULL DEFAULT '',
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL
);

-- Serves the worker's "pending and due, longest due first" and the counts.
CREATE INDEX notification_deliveries_due ON notification_deliveries (state, next_attempt_at);

-- +goose Up
-- OrderFailed events become notifications of kind ORDER_FAILED.
--
-- SQLite cannot change a CHECK in place, so notifications is rebuilt inside
-- the migration's transaction (foreign keys stay on), and
-- notification_deliveries with it, so that its foreign key follows the new
-- table. Renaming a table also renames the references to it, so the old
-- tables are moved aside first; each old table is dropped only once nothing
-- references it, so no ON DELETE CASCADE fires on the copied rows.

ALTER TABLE notifications RENAME TO notifications_0002;

CREATE TABLE notifications (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    order_id   TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('ORDER_PLACED', 'ORDER_CANCELLED', 'ORDER_FAILED')),
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    event_id   TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL
);

INSERT INTO notifications (id, user_id, order_id, kind, title, body, event_id, created_at)
SELECT id, user_id, order_id, kind, title, body, event_id, created_at FROM notifications_0002;

ALTER TABLE notification_deliveries RENAME TO notification_deliveries_0002;

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

INSERT INTO notification_deliveries (notification_id, state, attempts, next_attempt_at, last_error, trace_context, created_at, updated_at)
SELECT notification_id, state, attempts, next_attempt_at, last_error, trace_context, created_at, updated_at
FROM notification_deliveries_0002;

DROP TABLE notification_deliveries_0002;
DROP TABLE notifications_0002;

CREATE INDEX notifications_user_id ON notifications (user_id, id DESC);
-- Serves the worker's "pending and due, longest due first" and the counts.
CREATE INDEX notification_deliveries_due ON notification_deliveries (state, next_attempt_at);

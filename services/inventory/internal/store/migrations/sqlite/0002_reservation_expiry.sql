-- +goose Up
-- Reservations expire unless their order commits them. A RESERVED
-- reservation holds its stock until expires_at; the order's OrderPlaced
-- makes it COMMITTED, which never expires (expires_at NULL). Rows from
-- before this migration keep a NULL expiry: they hold their stock until
-- released, as they did when they were made.
--
-- SQLite cannot change a CHECK in place, so both reservation tables are
-- rebuilt inside the migration's transaction (foreign keys stay on).
-- Renaming a table also renames the references to it, so the old tables
-- are moved aside first; each old table is dropped only once nothing
-- references it, so no ON DELETE CASCADE fires on the copied rows.

ALTER TABLE reservations RENAME TO reservations_0001;

CREATE TABLE reservations (
    order_id    TEXT PRIMARY KEY,
    status      TEXT NOT NULL CHECK (status IN ('RESERVED', 'COMMITTED', 'RELEASED')),
    fingerprint TEXT NOT NULL,
    expires_at  TIMESTAMP,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL,
    CONSTRAINT reservations_committed_never_expires CHECK (status <> 'COMMITTED' OR expires_at IS NULL)
);

INSERT INTO reservations (order_id, status, fingerprint, expires_at, created_at, updated_at)
SELECT order_id, status, fingerprint, NULL, created_at, updated_at FROM reservations_0001;

ALTER TABLE reservation_items RENAME TO reservation_items_0001;

CREATE TABLE reservation_items (
    order_id   TEXT NOT NULL REFERENCES reservations (order_id) ON DELETE CASCADE,
    product_id TEXT NOT NULL,
    quantity   INTEGER NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, product_id)
);

INSERT INTO reservation_items (order_id, product_id, quantity)
SELECT order_id, product_id, quantity FROM reservation_items_0001;

DROP TABLE reservation_items_0001;
DROP TABLE reservations_0001;

-- The sweeper's scan: only reservations still holding stock, by expiry.
CREATE INDEX reservations_expiring ON reservations (expires_at) WHERE status = 'RESERVED';

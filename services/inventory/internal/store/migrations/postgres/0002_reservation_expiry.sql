-- +goose Up
-- Reservations expire unless their order commits them. A RESERVED
-- reservation holds its stock until expires_at; the order's OrderPlaced
-- makes it COMMITTED, which never expires (expires_at NULL). Rows from
-- before this migration keep a NULL expiry: they hold their stock until
-- released, as they did when they were made.

ALTER TABLE reservations ADD COLUMN expires_at TIMESTAMPTZ;

ALTER TABLE reservations DROP CONSTRAINT reservations_status_check;
ALTER TABLE reservations ADD CONSTRAINT reservations_status_check
    CHECK (status IN ('RESERVED', 'COMMITTED', 'RELEASED'));
ALTER TABLE reservations ADD CONSTRAINT reservations_committed_never_expires
    CHECK (status <> 'COMMITTED' OR expires_at IS NULL);

-- The sweeper's scan: only reservations still holding stock, by expiry.
CREATE INDEX reservations_expiring ON reservations (expires_at) WHERE status = 'RESERVED';

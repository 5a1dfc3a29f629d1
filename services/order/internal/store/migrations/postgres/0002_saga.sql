-- +goose Up
-- The order saga: an order is stored PENDING (with what it asks for) before
-- its stock is reserved and its payment authorized, is PLACED once
-- authorized, and may end FAILED.

ALTER TABLE orders DROP CONSTRAINT orders_status_known;
ALTER TABLE orders ADD CONSTRAINT orders_status_known
    CHECK (status IN ('PENDING', 'PLACED', 'FAILED', 'CANCELLED'));

-- '' until the stock is priced, which a FAILED order may never be.
ALTER TABLE orders DROP CONSTRAINT orders_currency_check;
ALTER TABLE orders ADD CONSTRAINT orders_currency_known
    CHECK (length(currency) = 3 OR (currency = '' AND status IN ('PENDING', 'FAILED')));

ALTER TABLE orders
    -- JSON [{"product_id", "quantity"}], merged, in the request's order.
    ADD COLUMN requested_items  TEXT NOT NULL DEFAULT '',
    ADD COLUMN payment_method   TEXT NOT NULL DEFAULT '',
    ADD COLUMN payment_state    TEXT NOT NULL DEFAULT 'NONE' CONSTRAINT orders_payment_state_known
        CHECK (payment_state IN ('NONE', 'AUTHORIZED', 'CAPTURED', 'VOIDED', 'REFUNDED', 'DECLINED')),
    ADD COLUMN payment_id       TEXT NOT NULL DEFAULT '',
    ADD COLUMN failure_reason   TEXT NOT NULL DEFAULT '',
    ADD COLUMN cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN stock_released   BOOLEAN NOT NULL DEFAULT FALSE,
    -- The recovery worker holding the order until then, if any.
    ADD COLUMN lease_until      TIMESTAMPTZ;

-- The recovery worker's scan: orders whose saga has a step left.
CREATE INDEX orders_unfinished ON orders (updated_at)
    WHERE status = 'PENDING'
       OR (status = 'PLACED' AND (payment_state = 'AUTHORIZED' OR cancel_requested))
       OR (status = 'FAILED' AND NOT stock_released);

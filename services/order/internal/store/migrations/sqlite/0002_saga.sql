-- +goose Up
-- The order saga: an order is stored PENDING (with what it asks for) before
-- its stock is reserved and its payment authorized, is PLACED once
-- authorized, and may end FAILED. SQLite cannot change a CHECK, so the
-- tables are rebuilt; order_items is rebuilt too, so that its foreign key
-- follows the new orders table and dropping the old one cascades nowhere.

CREATE TABLE orders_v2 (
    id                  TEXT PRIMARY KEY,
    user_id             TEXT NOT NULL,
    idempotency_key     TEXT NOT NULL,
    request_fingerprint TEXT NOT NULL,
    status              TEXT NOT NULL CHECK (status IN ('PENDING', 'PLACED', 'FAILED', 'CANCELLED')),
    -- '' until the stock is priced, which a FAILED order may never be.
    currency            TEXT NOT NULL CHECK (length(currency) = 3 OR (currency = '' AND status IN ('PENDING', 'FAILED'))),
    total_minor         INTEGER NOT NULL CHECK (total_minor >= 0),
    cancel_reason       TEXT NOT NULL DEFAULT '',
    created_at          TIMESTAMP NOT NULL,
    updated_at          TIMESTAMP NOT NULL,
    -- JSON [{"product_id", "quantity"}], merged, in the request's order.
    requested_items     TEXT NOT NULL DEFAULT '',
    payment_method      TEXT NOT NULL DEFAULT '',
    payment_state       TEXT NOT NULL DEFAULT 'NONE'
        CHECK (payment_state IN ('NONE', 'AUTHORIZED', 'CAPTURED', 'VOIDED', 'REFUNDED', 'DECLINED')),
    payment_id          TEXT NOT NULL DEFAULT '',
    failure_reason      TEXT NOT NULL DEFAULT '',
    cancel_requested    BOOLEAN NOT NULL DEFAULT FALSE,
    stock_released      BOOLEAN NOT NULL DEFAULT FALSE,
    -- The recovery worker holding the order until then, if any.
    lease_until         TIMESTAMP,
    UNIQUE (user_id, idempotency_key)
);

INSERT INTO orders_v2 (id, user_id, idempotency_key, request_fingerprint, status, currency, total_minor,
    cancel_reason, created_at, updated_at)
SELECT id, user_id, idempotency_key, request_fingerprint, status, currency, total_minor,
    cancel_reason, created_at, updated_at
FROM orders;

CREATE TABLE order_items_v2 (
    order_id         TEXT NOT NULL REFERENCES orders_v2 (id) ON DELETE CASCADE,
    product_id       TEXT NOT NULL,
    name             TEXT NOT NULL,
    quantity         INTEGER NOT NULL CHECK (quantity > 0),
    unit_price_minor INTEGER NOT NULL CHECK (unit_price_minor >= 0),
    line_total_minor INTEGER NOT NULL CHECK (line_total_minor >= 0),
    PRIMARY KEY (order_id, product_id)
);

INSERT INTO order_items_v2 SELECT order_id, product_id, name, quantity, unit_price_minor, line_total_minor FROM order_items;

DROP TABLE order_items;
DROP TABLE orders;
ALTER TABLE orders_v2 RENAME TO orders;
ALTER TABLE order_items_v2 RENAME TO order_items;

CREATE INDEX orders_user_newest ON orders (user_id, created_at DESC, id DESC);

-- The recovery worker's scan: orders whose saga has a step left.
CREATE INDEX orders_unfinished ON orders (updated_at)
    WHERE status = 'PENDING'
       OR (status = 'PLACED' AND (payment_state = 'AUTHORIZED' OR cancel_requested))
       OR (status = 'FAILED' AND NOT stock_released);

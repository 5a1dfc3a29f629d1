-- +goose Up
-- Orders and their lines. The business's invariants are constraints here,
-- not only checks in Go: a status is PLACED or CANCELLED, amounts are never
-- negative, and a user's idempotency key names one order, so of two
-- concurrent duplicates exactly one insert wins.

CREATE TABLE orders (
    id                  TEXT PRIMARY KEY,
    user_id             TEXT NOT NULL,
    idempotency_key     TEXT NOT NULL,
    request_fingerprint TEXT NOT NULL,
    status              TEXT NOT NULL CHECK (status IN ('PLACED', 'CANCELLED')),
    currency            TEXT NOT NULL CHECK (length(currency) = 3),
    total_minor         INTEGER NOT NULL CHECK (total_minor >= 0),
    cancel_reason       TEXT NOT NULL DEFAULT '',
    created_at          TIMESTAMP NOT NULL,
    updated_at          TIMESTAMP NOT NULL,
    UNIQUE (user_id, idempotency_key)
);

-- ListMyOrders: a user's orders newest first, resumed after (created_at, id).
CREATE INDEX orders_user_newest ON orders (user_id, created_at DESC, id DESC);

-- One line per product, priced when the order was placed. The order's
-- currency is every line's currency.
CREATE TABLE order_items (
    order_id         TEXT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id       TEXT NOT NULL,
    name             TEXT NOT NULL,
    quantity         INTEGER NOT NULL CHECK (quantity > 0),
    unit_price_minor INTEGER NOT NULL CHECK (unit_price_minor >= 0),
    line_total_minor INTEGER NOT NULL CHECK (line_total_minor >= 0),
    PRIMARY KEY (order_id, product_id)
);

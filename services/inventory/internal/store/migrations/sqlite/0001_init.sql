-- +goose Up
-- The catalog, stock levels and reservations of the inventory service.
-- products.stock has CHECK (stock >= 0): the database itself refuses an
-- oversell, whatever the code above it does.

CREATE TABLE products (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    price_minor INTEGER NOT NULL CHECK (price_minor >= 0),
    currency    TEXT NOT NULL CHECK (length(currency) = 3),
    stock       INTEGER NOT NULL CHECK (stock >= 0),
    updated_at  TIMESTAMP NOT NULL
);

-- One row per order id: the key that makes Reserve idempotent. A RELEASED
-- row without items is the tombstone of an order released before it was
-- ever reserved.
CREATE TABLE reservations (
    order_id    TEXT PRIMARY KEY,
    status      TEXT NOT NULL CHECK (status IN ('RESERVED', 'RELEASED')),
    fingerprint TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);

-- No foreign key to products: a reservation is a record of what was held
-- and outlives changes to the catalog. Reserve checks the product exists.
CREATE TABLE reservation_items (
    order_id   TEXT NOT NULL REFERENCES reservations (order_id) ON DELETE CASCADE,
    product_id TEXT NOT NULL,
    quantity   INTEGER NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, product_id)
);

-- The audit log of admins' stock adjustments.
CREATE TABLE stock_adjustments (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    product_id TEXT NOT NULL REFERENCES products (id),
    delta      INTEGER NOT NULL CHECK (delta <> 0),
    reason     TEXT NOT NULL,
    actor      TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE INDEX stock_adjustments_product_time ON stock_adjustments (product_id, created_at);

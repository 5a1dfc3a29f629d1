-- +goose Up
-- Orders whose payment was voided before it existed: a VoidPayment that
-- found no payment (the order gave up while its AuthorizePayment was still
-- on the way). An Authorize that stores its payment afterwards finds the
-- order here and voids its own payment before asking the provider, so a
-- late authorization never holds the amount of an order that failed.

CREATE TABLE voided_orders (
    order_id  TEXT PRIMARY KEY CHECK (length(order_id) BETWEEN 1 AND 64),
    voided_at TIMESTAMP NOT NULL
);

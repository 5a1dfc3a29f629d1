-- +goose Up
-- The payments of the payment service: one per order. Ids are UUIDv7 text,
-- so they sort in creation order; a user's listing walks the user index
-- newest first. COLLATE "C" makes that order bytewise, as on SQLite.
-- idempotency_key is the key the authorization was asked with: settling a
-- PENDING payment asks the provider again with it.

CREATE TABLE payments (
    id              TEXT COLLATE "C" PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
    order_id        TEXT NOT NULL UNIQUE CHECK (length(order_id) BETWEEN 1 AND 64),
    user_id         TEXT NOT NULL CHECK (length(user_id) BETWEEN 1 AND 128),
    currency        TEXT NOT NULL CHECK (length(currency) = 3),
    amount_minor    BIGINT NOT NULL CHECK (amount_minor > 0),
    state           TEXT NOT NULL CHECK (state IN ('PENDING', 'AUTHORIZED', 'CAPTURED', 'VOIDED', 'REFUNDED', 'DECLINED')),
    provider        TEXT NOT NULL CHECK (provider <> ''),
    provider_ref    TEXT NOT NULL DEFAULT '',
    payment_method  TEXT NOT NULL DEFAULT '',
    idempotency_key TEXT NOT NULL CHECK (idempotency_key <> ''),
    decline_code    TEXT NOT NULL DEFAULT '',
    decline_message TEXT NOT NULL DEFAULT '',
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);

CREATE INDEX payments_user_id ON payments (user_id, id);

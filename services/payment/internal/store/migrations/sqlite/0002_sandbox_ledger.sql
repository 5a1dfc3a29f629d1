-- +goose Up
-- The sandbox payment provider's ledger: its payments, and the answers it
-- stored under idempotency keys. The CHECKs hold the amounts in order
-- whatever the code does: refunded <= captured <= authorized.

CREATE TABLE sandbox_payments (
    ref            TEXT PRIMARY KEY,
    order_id       TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    payment_method TEXT NOT NULL,
    currency       TEXT NOT NULL CHECK (length(currency) = 3),
    authorized     INTEGER NOT NULL CHECK (authorized > 0),
    captured       INTEGER NOT NULL CHECK (captured >= 0 AND captured <= authorized),
    refunded       INTEGER NOT NULL CHECK (refunded >= 0 AND refunded <= captured),
    status         TEXT NOT NULL CHECK (status IN ('authorized', 'captured', 'voided', 'refunded')),
    created_at     TIMESTAMP NOT NULL,
    updated_at     TIMESTAMP NOT NULL
);

-- One row per idempotency key. A request claims its key by inserting the
-- row and fills in its answer in the same transaction; a declined
-- authorization has a decline_code and no payment.
CREATE TABLE sandbox_idempotency (
    idem_key        TEXT PRIMARY KEY,
    fingerprint     TEXT NOT NULL,
    ref             TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL DEFAULT '',
    decline_code    TEXT NOT NULL DEFAULT '',
    decline_message TEXT NOT NULL DEFAULT '',
    created_at      TIMESTAMP NOT NULL
);

-- +goose Up
-- A reservation line keeps the name and unit price its product had when the
-- stock was taken, so Reserve answers the prices it reserved at, and a
-- replay answers the same. Lines from before this migration have none
-- (unit_price_minor NULL).

ALTER TABLE reservation_items ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE reservation_items ADD COLUMN unit_price_minor INTEGER CHECK (unit_price_minor >= 0);
ALTER TABLE reservation_items ADD COLUMN currency TEXT NOT NULL DEFAULT '';

-- +goose Up
-- OrderFailed events become notifications of kind ORDER_FAILED. The CHECK
-- is replaced under its own name; the existing rows all pass the new one.

ALTER TABLE notifications DROP CONSTRAINT notifications_kind_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check
    CHECK (kind IN ('ORDER_PLACED', 'ORDER_CANCELLED', 'ORDER_FAILED'));

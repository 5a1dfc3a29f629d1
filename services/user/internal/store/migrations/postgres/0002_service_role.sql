-- +goose Up
-- Service accounts: role 'service' joins 'customer' and 'admin'. Existing
-- rows all hold one of the old roles, so they satisfy the wider check.

ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('customer', 'admin', 'service'));

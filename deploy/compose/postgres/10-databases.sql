-- Runs once, when the postgres container initialises an empty data volume.
-- One database and one login role per service: each service owns its schema
-- and migrations and cannot read another's tables. Development passwords
-- only; they match deploy/compose/docker-compose.yml.
CREATE ROLE slipway_user LOGIN PASSWORD 'slipway_user';
CREATE ROLE slipway_order LOGIN PASSWORD 'slipway_order';
CREATE ROLE slipway_inventory LOGIN PASSWORD 'slipway_inventory';
CREATE ROLE slipway_notification LOGIN PASSWORD 'slipway_notification';
CREATE ROLE slipway_payment LOGIN PASSWORD 'slipway_payment';

CREATE DATABASE slipway_user OWNER slipway_user;
CREATE DATABASE slipway_order OWNER slipway_order;
CREATE DATABASE slipway_inventory OWNER slipway_inventory;
CREATE DATABASE slipway_notification OWNER slipway_notification;
CREATE DATABASE slipway_payment OWNER slipway_payment;

REVOKE ALL ON DATABASE slipway_user FROM PUBLIC;
REVOKE ALL ON DATABASE slipway_order FROM PUBLIC;
REVOKE ALL ON DATABASE slipway_inventory FROM PUBLIC;
REVOKE ALL ON DATABASE slipway_notification FROM PUBLIC;
REVOKE ALL ON DATABASE slipway_payment FROM PUBLIC;

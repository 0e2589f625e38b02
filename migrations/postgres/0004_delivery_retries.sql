-- Porter on PostgreSQL, schema 4 (as migrations/0004_delivery_retries.sql): a delivery's retry is leased
-- (`retried_at`), so of several replicas sweeping this database one retries it per retry period.
ALTER TABLE deliveries ADD COLUMN retried_at BIGINT;

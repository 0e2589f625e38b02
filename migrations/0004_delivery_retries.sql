-- Porter on D1 (and SQLite on Node), schema 4: a delivery's retry is leased. The watchdog marks each delivery it
-- handles again with the sweep's time (`retried_at`) and takes it again only once that mark is a retry period old, so
-- of several hosts sweeping one database, one retries it per period (TaskStore.retryDeliveries with `at`).
ALTER TABLE deliveries ADD COLUMN retried_at INTEGER;

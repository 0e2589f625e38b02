-- Porter on PostgreSQL, schema 10 (the twin of migrations/0010_fix_ci.sql): `tasks.mode` may be 'fix_ci' (CI feedback,
-- issue 20). The column's CHECK constraint (PostgreSQL named it `tasks_mode_check`) is replaced.
ALTER TABLE tasks DROP CONSTRAINT IF EXISTS tasks_mode_check;
ALTER TABLE tasks ADD CONSTRAINT tasks_mode_check CHECK (mode IN ('change', 'ask', 'fix_ci'));

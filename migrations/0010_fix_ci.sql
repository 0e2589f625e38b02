-- Porter on D1 (and SQLite on Node), schema 10: CI feedback (issue 20).
--
-- - `tasks.mode` may be 'fix_ci': a change to a pull request's branch that makes its failing checks pass (its prompt
--   carries their logs). SQLite cannot change a CHECK constraint in place: the column is copied into a new one with the
--   wider CHECK, dropped (its CHECK goes with it; no index, trigger or view uses it) and the new one takes its name.
--   Column order is not relied on (every statement names its columns).
-- - CI feedback's own records (a check suite commented on, the automatic fixes of a pull request) are `notices`
--   (migration 0007): nothing else is stored.
ALTER TABLE tasks ADD COLUMN mode_v10 TEXT CHECK (mode_v10 IN ('change', 'ask', 'fix_ci'));
UPDATE tasks SET mode_v10 = mode WHERE mode IS NOT NULL;
ALTER TABLE tasks DROP COLUMN mode;
ALTER TABLE tasks RENAME COLUMN mode_v10 TO mode;

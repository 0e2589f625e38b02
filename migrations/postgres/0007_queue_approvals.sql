-- Porter on PostgreSQL, schema 7 (as migrations/0007_queue_approvals.sql): the `awaiting_approval` state, the columns
-- `mode`, `request_key` (unique), `not_an_agent` and `approved_by`, the active-state indexes with `awaiting_approval`,
-- a stuck dispatch being a provisioning task only, the queue's indexes, and `notices`.

ALTER TABLE tasks DROP CONSTRAINT tasks_state_check;
ALTER TABLE tasks ADD CONSTRAINT tasks_state_check
  CHECK (state IN ('awaiting_approval', 'queued', 'provisioning', 'running', 'succeeded', 'failed', 'timed_out',
    'cancelled'));

ALTER TABLE tasks ADD COLUMN mode TEXT CHECK (mode IN ('change', 'ask'));
ALTER TABLE tasks ADD COLUMN request_key TEXT;
ALTER TABLE tasks ADD COLUMN not_an_agent TEXT;
ALTER TABLE tasks ADD COLUMN approved_by TEXT;

DROP INDEX tasks_due_deadline;
DROP INDEX tasks_due_dispatch;
DROP INDEX tasks_active_repo;
DROP INDEX tasks_active_user;

CREATE INDEX tasks_due_deadline ON tasks (deadline_at)
  WHERE state IN ('awaiting_approval', 'queued', 'provisioning', 'running');
CREATE INDEX tasks_due_dispatch ON tasks (updated_at)
  WHERE state = 'provisioning';
CREATE INDEX tasks_active_repo ON tasks (repo_key, issue_number)
  WHERE state IN ('awaiting_approval', 'queued', 'provisioning', 'running');
CREATE INDEX tasks_active_user ON tasks (requested_by_id)
  WHERE state IN ('awaiting_approval', 'queued', 'provisioning', 'running');

CREATE INDEX tasks_slots_repo ON tasks (repo_key, issue_number)
  WHERE state IN ('provisioning', 'running');
CREATE INDEX tasks_slots_user ON tasks (requested_by_id)
  WHERE state IN ('provisioning', 'running');
CREATE INDEX tasks_queued ON tasks (repo_key, id)
  WHERE state = 'queued';

CREATE UNIQUE INDEX tasks_request ON tasks (request_key)
  WHERE request_key IS NOT NULL;

CREATE TABLE notices (
  notice_key TEXT PRIMARY KEY NOT NULL,
  at BIGINT NOT NULL
);

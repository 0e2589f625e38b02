-- Porter on D1 (and SQLite on Node), schema 7: outsiders' requests wait for approval, requests over the limits wait in
-- a queue, one comment starts one task.
--
-- - A new state, `awaiting_approval` (before `queued`). SQLite cannot change a CHECK constraint in place, so `tasks` is
--   rebuilt: the new table, its rows copied, the old one dropped (with its indexes and triggers), the new one renamed,
--   then the indexes and triggers of schemas 1 and 2 made again. Its active-state indexes hold `awaiting_approval`
--   too; `queued` no longer counts as a stuck dispatch (a queued task waits for a slot, the sweep admits it in order).
-- - New columns: `mode` ('ask' for a question: read-only, no pull request), `request_key` (unique: the comment a task
--   answers), `not_an_agent` (the command's first word when it named no agent), `approved_by` (who approved).
-- - Indexes for the queue: the slot-holding tasks (provisioning, running) by repository and issue and by requester —
--   what an admission counts — and the queued tasks by repository, oldest first.
-- - `notices`: when a notice (an outsider's refusal) was last posted, so it is posted at most once per quiet period.

CREATE TABLE tasks_v7 (
  id TEXT PRIMARY KEY NOT NULL,
  state TEXT NOT NULL
    CHECK (state IN ('awaiting_approval', 'queued', 'provisioning', 'running', 'succeeded', 'failed', 'timed_out',
      'cancelled')),
  repo_owner TEXT NOT NULL,
  repo_name TEXT NOT NULL,
  repo_key TEXT NOT NULL,
  issue_number INTEGER NOT NULL,
  is_pull_request INTEGER NOT NULL CHECK (is_pull_request IN (0, 1)),
  installation_id INTEGER,
  requested_by_login TEXT NOT NULL,
  requested_by_id INTEGER NOT NULL,
  requested_by_type TEXT NOT NULL,
  trigger_kind TEXT NOT NULL,
  trigger_comment_id INTEGER NOT NULL,
  delivery_id TEXT NOT NULL,
  agent TEXT NOT NULL,
  model TEXT,
  instructions TEXT NOT NULL,
  base_branch TEXT,
  head_branch TEXT,
  timeout_ms INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  deadline_at INTEGER NOT NULL,
  heartbeat_at INTEGER,
  started_at INTEGER,
  finished_at INTEGER,
  dispatch_attempts INTEGER NOT NULL DEFAULT 0,
  machine_id TEXT,
  status_comment_id INTEGER,
  outcome TEXT,
  branch TEXT,
  commit_sha TEXT,
  pr_url TEXT,
  summary TEXT,
  usage TEXT,
  reason TEXT,
  log_tail TEXT,
  mode TEXT CHECK (mode IN ('change', 'ask')),
  request_key TEXT,
  not_an_agent TEXT,
  approved_by TEXT
);

INSERT INTO tasks_v7 (
  id, state, repo_owner, repo_name, repo_key, issue_number, is_pull_request, installation_id, requested_by_login,
  requested_by_id, requested_by_type, trigger_kind, trigger_comment_id, delivery_id, agent, model, instructions,
  base_branch, head_branch, timeout_ms, created_at, updated_at, deadline_at, heartbeat_at, started_at, finished_at,
  dispatch_attempts, machine_id, status_comment_id, outcome, branch, commit_sha, pr_url, summary, usage, reason, log_tail
)
SELECT
  id, state, repo_owner, repo_name, repo_key, issue_number, is_pull_request, installation_id, requested_by_login,
  requested_by_id, requested_by_type, trigger_kind, trigger_comment_id, delivery_id, agent, model, instructions,
  base_branch, head_branch, timeout_ms, created_at, updated_at, deadline_at, heartbeat_at, started_at, finished_at,
  dispatch_attempts, machine_id, status_comment_id, outcome, branch, commit_sha, pr_url, summary, usage, reason, log_tail
FROM tasks;

DROP TABLE tasks;
ALTER TABLE tasks_v7 RENAME TO tasks;

-- The watchdog sweep (schema 1), with `awaiting_approval` among the active states; a stuck dispatch is a
-- provisioning task only.
CREATE INDEX tasks_due_deadline ON tasks (deadline_at)
  WHERE state IN ('awaiting_approval', 'queued', 'provisioning', 'running');
CREATE INDEX tasks_due_heartbeat ON tasks (coalesce(heartbeat_at, started_at, updated_at))
  WHERE state = 'running';
CREATE INDEX tasks_due_dispatch ON tasks (updated_at)
  WHERE state = 'provisioning';

CREATE INDEX tasks_active_repo ON tasks (repo_key, issue_number)
  WHERE state IN ('awaiting_approval', 'queued', 'provisioning', 'running');
CREATE INDEX tasks_active_user ON tasks (requested_by_id)
  WHERE state IN ('awaiting_approval', 'queued', 'provisioning', 'running');

-- The queue: what an admission counts, and the order it admits in.
CREATE INDEX tasks_slots_repo ON tasks (repo_key, issue_number)
  WHERE state IN ('provisioning', 'running');
CREATE INDEX tasks_slots_user ON tasks (requested_by_id)
  WHERE state IN ('provisioning', 'running');
CREATE INDEX tasks_queued ON tasks (repo_key, id)
  WHERE state = 'queued';

-- One task per request (comment), whatever deliveries carry it.
CREATE UNIQUE INDEX tasks_request ON tasks (request_key)
  WHERE request_key IS NOT NULL;

CREATE INDEX tasks_issue ON tasks (repo_key, issue_number, id);
CREATE INDEX tasks_repo ON tasks (repo_key, id);
CREATE INDEX tasks_state ON tasks (state, id);

CREATE TRIGGER tasks_terminal_is_final BEFORE UPDATE OF state ON tasks
  WHEN OLD.state IN ('succeeded', 'failed', 'timed_out', 'cancelled') AND NEW.state IS NOT OLD.state
BEGIN
  SELECT RAISE(ABORT, 'a terminal task never changes state');
END;

CREATE TRIGGER tasks_audit_created AFTER INSERT ON tasks
BEGIN
  INSERT INTO task_events (task_id, at, kind, to_state) VALUES (NEW.id, NEW.created_at, 'transition', NEW.state);
END;

CREATE TRIGGER tasks_audit_transition AFTER UPDATE OF state ON tasks
  WHEN NEW.state IS NOT OLD.state
BEGIN
  INSERT INTO task_events (task_id, at, kind, from_state, to_state, detail)
  VALUES (
    NEW.id,
    NEW.updated_at,
    'transition',
    OLD.state,
    NEW.state,
    CASE WHEN NEW.state IN ('succeeded', 'failed', 'timed_out', 'cancelled') THEN NEW.reason END
  );
END;

CREATE TRIGGER tasks_audit_created_detail AFTER INSERT ON tasks
BEGIN
  INSERT INTO task_events (task_id, at, kind, detail)
  VALUES (
    NEW.id,
    NEW.created_at,
    'created',
    NEW.agent || ' for @' || NEW.requested_by_login || ' (delivery ' || NEW.delivery_id || ')'
  );
END;

CREATE TRIGGER tasks_audit_dispatch AFTER UPDATE OF dispatch_attempts ON tasks
  WHEN NEW.dispatch_attempts > OLD.dispatch_attempts
BEGIN
  INSERT INTO task_events (task_id, at, kind, detail)
  VALUES (NEW.id, NEW.updated_at, 'dispatch', 'attempt ' || NEW.dispatch_attempts);
END;

CREATE TRIGGER tasks_audit_machine AFTER UPDATE OF machine_id ON tasks
  WHEN NEW.machine_id IS NOT NULL AND NEW.machine_id IS NOT OLD.machine_id
BEGIN
  INSERT INTO task_events (task_id, at, kind, detail) VALUES (NEW.id, NEW.updated_at, 'machine', NEW.machine_id);
END;

CREATE TABLE notices (
  notice_key TEXT PRIMARY KEY NOT NULL,
  at INTEGER NOT NULL
) WITHOUT ROWID;

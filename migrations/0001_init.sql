-- Porter on D1, schema 1: tasks, deliveries, the audit trail, encrypted secrets, settings.
-- Apply with `wrangler d1 migrations apply porter --local` (or `--remote`); tests use
-- `applyMigrations` from `@porter/d1/testing`, which keeps the same `d1_migrations` bookkeeping.
--
-- Timestamps are epoch milliseconds (INTEGER). The active states are spelled exactly
-- ('queued', 'provisioning', 'running') in every partial index and in the queries that use
-- them: SQLite only picks a partial index when the query repeats its WHERE term.

CREATE TABLE tasks (
  id TEXT PRIMARY KEY NOT NULL,
  state TEXT NOT NULL
    CHECK (state IN ('queued', 'provisioning', 'running', 'succeeded', 'failed', 'timed_out', 'cancelled')),
  repo_owner TEXT NOT NULL,
  repo_name TEXT NOT NULL,
  -- lower('owner/name'): repository filters are case-insensitive, like GitHub.
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
  -- JSON of the agent's token and cost figures.
  usage TEXT,
  reason TEXT,
  log_tail TEXT
);

-- The watchdog sweep: three range scans over partial indexes that hold active tasks only,
-- so its cost follows the number of due tasks, not the size of the table.
CREATE INDEX tasks_due_deadline ON tasks (deadline_at)
  WHERE state IN ('queued', 'provisioning', 'running');
CREATE INDEX tasks_due_heartbeat ON tasks (coalesce(heartbeat_at, started_at, updated_at))
  WHERE state = 'running';
CREATE INDEX tasks_due_dispatch ON tasks (updated_at)
  WHERE state IN ('queued', 'provisioning');

-- Concurrency checks on intake: active tasks per repository (and issue) and per user.
CREATE INDEX tasks_active_repo ON tasks (repo_key, issue_number)
  WHERE state IN ('queued', 'provisioning', 'running');
CREATE INDEX tasks_active_user ON tasks (requested_by_id)
  WHERE state IN ('queued', 'provisioning', 'running');

-- Listings, newest first (task ids sort by creation time).
CREATE INDEX tasks_issue ON tasks (repo_key, issue_number, id);
CREATE INDEX tasks_repo ON tasks (repo_key, id);
CREATE INDEX tasks_state ON tasks (state, id);

-- Terminal states are final, whoever writes: the store's conditional updates never try, and
-- this stops a hand-written UPDATE too.
CREATE TRIGGER tasks_terminal_is_final BEFORE UPDATE OF state ON tasks
  WHEN OLD.state IN ('succeeded', 'failed', 'timed_out', 'cancelled') AND NEW.state IS NOT OLD.state
BEGIN
  SELECT RAISE(ABORT, 'a terminal task never changes state');
END;

-- GitHub deliveries (X-GitHub-Delivery): the primary key makes a claim succeed exactly once.
-- The payload is kept until the delivery is handled, so the sweep can retry it.
CREATE TABLE deliveries (
  id TEXT PRIMARY KEY NOT NULL,
  received_at INTEGER NOT NULL,
  payload TEXT,
  attempts INTEGER NOT NULL DEFAULT 1,
  completed_at INTEGER
);
CREATE INDEX deliveries_pending ON deliveries (received_at) WHERE completed_at IS NULL;

-- The audit trail: append-only. Transitions are written by the triggers below, in the same
-- statement as the state change, so a transition row exists if and only if the task moved.
CREATE TABLE task_events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  task_id TEXT NOT NULL,
  at INTEGER NOT NULL,
  kind TEXT NOT NULL,
  from_state TEXT,
  to_state TEXT,
  detail TEXT
);
CREATE INDEX task_events_task ON task_events (task_id, at);

CREATE TRIGGER task_events_append_only BEFORE UPDATE ON task_events
BEGIN
  SELECT RAISE(ABORT, 'task_events is append-only');
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

-- Secrets, AES-256-GCM encrypted by the Worker (never by D1). `iv` and `ciphertext` are base64;
-- the associated data binds (scope_key, name, key_id), so a row copied elsewhere fails to decrypt.
CREATE TABLE secrets (
  scope_key TEXT NOT NULL,
  name TEXT NOT NULL,
  key_id TEXT NOT NULL,
  iv TEXT NOT NULL,
  ciphertext TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (scope_key, name)
) WITHOUT ROWID;
-- Rotation finds the rows not yet under the current key.
CREATE INDEX secrets_key ON secrets (key_id);

-- Per-installation, per-repository and global settings; NULL means "not set here" (the next
-- scope, then the built-in default, applies). Lists are JSON arrays of logins.
CREATE TABLE settings (
  scope_key TEXT PRIMARY KEY NOT NULL,
  mention_name TEXT,
  default_agent TEXT,
  allowed_users TEXT,
  denied_users TEXT,
  max_active_per_repo INTEGER CHECK (max_active_per_repo > 0),
  max_active_per_user INTEGER CHECK (max_active_per_user > 0),
  default_timeout_ms INTEGER CHECK (default_timeout_ms > 0),
  max_timeout_ms INTEGER CHECK (max_timeout_ms > 0),
  state_labels INTEGER CHECK (state_labels IN (0, 1)),
  updated_at INTEGER NOT NULL
);

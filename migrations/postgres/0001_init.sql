-- Porter on PostgreSQL, schema 1: the same tables, indexes and rules as migrations/0001_init.sql (SQLite, D1), in
-- PostgreSQL's dialect. Applied by @porter/sql's Migrator, recorded in `porter_migrations`.
--
-- Timestamps are epoch milliseconds (BIGINT), GitHub ids BIGINT; flags are INTEGER 0/1 as on SQLite, so rows map to
-- the same values. Task ids sort bytewise (COLLATE "C"): listings page by id, newest first.

CREATE TABLE tasks (
  id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
  state TEXT NOT NULL
    CHECK (state IN ('queued', 'provisioning', 'running', 'succeeded', 'failed', 'timed_out', 'cancelled')),
  repo_owner TEXT NOT NULL,
  repo_name TEXT NOT NULL,
  -- lower('owner/name'): repository filters are case-insensitive, like GitHub.
  repo_key TEXT NOT NULL,
  issue_number BIGINT NOT NULL,
  is_pull_request INTEGER NOT NULL CHECK (is_pull_request IN (0, 1)),
  installation_id BIGINT,
  requested_by_login TEXT NOT NULL,
  requested_by_id BIGINT NOT NULL,
  requested_by_type TEXT NOT NULL,
  trigger_kind TEXT NOT NULL,
  trigger_comment_id BIGINT NOT NULL,
  delivery_id TEXT NOT NULL,
  agent TEXT NOT NULL,
  model TEXT,
  instructions TEXT NOT NULL,
  base_branch TEXT,
  head_branch TEXT,
  timeout_ms BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  deadline_at BIGINT NOT NULL,
  heartbeat_at BIGINT,
  started_at BIGINT,
  finished_at BIGINT,
  dispatch_attempts INTEGER NOT NULL DEFAULT 0,
  machine_id TEXT,
  status_comment_id BIGINT,
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

-- The watchdog sweep: three range scans over partial indexes that hold active tasks only.
CREATE INDEX tasks_due_deadline ON tasks (deadline_at)
  WHERE state IN ('queued', 'provisioning', 'running');
CREATE INDEX tasks_due_heartbeat ON tasks ((coalesce(heartbeat_at, started_at, updated_at)))
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

-- Terminal states are final, whoever writes.
CREATE FUNCTION porter_terminal_is_final() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'a terminal task never changes state';
END
$$;
CREATE TRIGGER tasks_terminal_is_final BEFORE UPDATE OF state ON tasks FOR EACH ROW
  WHEN (OLD.state IN ('succeeded', 'failed', 'timed_out', 'cancelled') AND NEW.state IS DISTINCT FROM OLD.state)
  EXECUTE FUNCTION porter_terminal_is_final();

-- GitHub deliveries (X-GitHub-Delivery): the primary key makes a claim succeed exactly once.
CREATE TABLE deliveries (
  id TEXT PRIMARY KEY NOT NULL,
  received_at BIGINT NOT NULL,
  payload TEXT,
  attempts INTEGER NOT NULL DEFAULT 1,
  completed_at BIGINT
);
CREATE INDEX deliveries_pending ON deliveries (received_at) WHERE completed_at IS NULL;

-- The audit trail: append-only; transitions are written by triggers in the statement that makes them.
CREATE TABLE task_events (
  seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  task_id TEXT NOT NULL,
  at BIGINT NOT NULL,
  kind TEXT NOT NULL,
  from_state TEXT,
  to_state TEXT,
  detail TEXT
);
CREATE INDEX task_events_task ON task_events (task_id, at);

CREATE FUNCTION porter_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'task_events is append-only';
END
$$;
CREATE TRIGGER task_events_append_only BEFORE UPDATE ON task_events FOR EACH ROW
  EXECUTE FUNCTION porter_events_append_only();

CREATE FUNCTION porter_audit_created() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO task_events (task_id, at, kind, to_state) VALUES (NEW.id, NEW.created_at, 'transition', NEW.state);
  RETURN NULL;
END
$$;
CREATE TRIGGER tasks_audit_created AFTER INSERT ON tasks FOR EACH ROW EXECUTE FUNCTION porter_audit_created();

CREATE FUNCTION porter_audit_transition() RETURNS trigger LANGUAGE plpgsql AS $$
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
  RETURN NULL;
END
$$;
CREATE TRIGGER tasks_audit_transition AFTER UPDATE OF state ON tasks FOR EACH ROW
  WHEN (NEW.state IS DISTINCT FROM OLD.state)
  EXECUTE FUNCTION porter_audit_transition();

-- Secrets, AES-256-GCM encrypted by the host (never by the database): base64 `iv` and `ciphertext`.
CREATE TABLE secrets (
  scope_key TEXT NOT NULL,
  name TEXT NOT NULL,
  key_id TEXT NOT NULL,
  iv TEXT NOT NULL,
  ciphertext TEXT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (scope_key, name)
);
-- Rotation finds the rows not yet under the current key.
CREATE INDEX secrets_key ON secrets (key_id);

-- Per-installation, per-repository and global settings; NULL means "not set here".
CREATE TABLE settings (
  scope_key TEXT PRIMARY KEY NOT NULL,
  mention_name TEXT,
  default_agent TEXT,
  allowed_users TEXT,
  denied_users TEXT,
  max_active_per_repo INTEGER CHECK (max_active_per_repo > 0),
  max_active_per_user INTEGER CHECK (max_active_per_user > 0),
  default_timeout_ms BIGINT CHECK (default_timeout_ms > 0),
  max_timeout_ms BIGINT CHECK (max_timeout_ms > 0),
  state_labels INTEGER CHECK (state_labels IN (0, 1)),
  updated_at BIGINT NOT NULL
);

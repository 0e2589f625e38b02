-- Porter on PostgreSQL, schema 9 (as migrations/0009_artifacts.sql): `task_artifacts` (sessions and transcripts,
-- scrubbed) and the task columns `continues_from`, `resumed`, `stop_state` and `transcript_url`.
CREATE TABLE task_artifacts (
  task_id TEXT COLLATE "C" NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('session', 'transcript', 'diff')),
  agent TEXT NOT NULL,
  name TEXT NOT NULL,
  content TEXT NOT NULL,
  stored_at BIGINT NOT NULL,
  PRIMARY KEY (task_id, kind)
);
CREATE INDEX task_artifacts_stored ON task_artifacts (stored_at);

ALTER TABLE tasks ADD COLUMN continues_from TEXT;
ALTER TABLE tasks ADD COLUMN resumed TEXT CHECK (resumed IN ('session', 'summary'));
ALTER TABLE tasks ADD COLUMN stop_state TEXT CHECK (stop_state IN ('cancelled', 'failed', 'timed_out'));
ALTER TABLE tasks ADD COLUMN transcript_url TEXT;

-- Porter on D1 (and SQLite on Node), schema 9: checkpoints, `@porter continue` and transcripts (issue 20).
--
-- - `task_artifacts`: per task, its agent's session (what the CLI needs to resume: Claude Code's session file), its
--   run's transcript and the diff it proposed, all scrubbed of secrets before they are written; one row per task and kind, replaced by a
--   later write. `stored_at` orders the retention purge (`RepoSettings.artifactRetentionDays`).
-- - New task columns: `continues_from` (the task a `@porter continue` picks up from), `resumed` ('session' when the
--   agent's session was handed to its CLI, 'summary' when it started afresh with the earlier summary and diff),
--   `stop_state` (the state a task asked to stop — cancelled, or failed over its budget — ends in once its machine has
--   handed over its work, or its grace period is over) and `transcript_url` (where its scrubbed transcript is read).
CREATE TABLE task_artifacts (
  task_id TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('session', 'transcript', 'diff')),
  agent TEXT NOT NULL,
  name TEXT NOT NULL,
  content TEXT NOT NULL,
  stored_at INTEGER NOT NULL,
  PRIMARY KEY (task_id, kind)
) WITHOUT ROWID;
CREATE INDEX task_artifacts_stored ON task_artifacts (stored_at);

ALTER TABLE tasks ADD COLUMN continues_from TEXT;
ALTER TABLE tasks ADD COLUMN resumed TEXT CHECK (resumed IN ('session', 'summary'));
ALTER TABLE tasks ADD COLUMN stop_state TEXT CHECK (stop_state IN ('cancelled', 'failed', 'timed_out'));
ALTER TABLE tasks ADD COLUMN transcript_url TEXT;

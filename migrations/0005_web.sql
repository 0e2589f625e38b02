-- Porter on D1, schema 5: the web app's sign-ins (@porter/web, SqlSessionStore). One row per session; the cookie
-- carries the session id, the row only its SHA-256 (hex), so the table alone signs nobody in. `token` is the user's
-- GitHub token sealed with AES-256-GCM under a key derived from PORTER_SESSION_SECRET, bound to the row (never
-- readable by D1). Expired rows are removed when someone signs in.
CREATE TABLE web_sessions (
  id_hash TEXT PRIMARY KEY NOT NULL,
  user_id INTEGER NOT NULL,
  login TEXT NOT NULL,
  token TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);

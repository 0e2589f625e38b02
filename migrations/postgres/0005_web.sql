-- Porter on PostgreSQL, schema 5 (as migrations/0005_web.sql): the web app's sign-ins (@porter/web, SqlSessionStore).
-- One row per session; the cookie carries the session id, the row only its SHA-256 (hex). `token` is the user's GitHub
-- token sealed with a key derived from PORTER_SESSION_SECRET, bound to the row.
CREATE TABLE web_sessions (
  id_hash TEXT COLLATE "C" PRIMARY KEY NOT NULL,
  user_id BIGINT NOT NULL,
  login TEXT NOT NULL,
  token TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);

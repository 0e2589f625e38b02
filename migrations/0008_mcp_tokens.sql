-- Porter on D1, schema 8: users' personal Porter tokens (@porter/web, SqlTokenStore), what MCP clients send as
-- `Authorization: Bearer porter_pat_…` (@porter/mcp). The token itself is shown once and never stored: a row keeps its
-- SHA-256 (hex), the GitHub user it acts for, and that user's GitHub token sealed with AES-256-GCM under a key derived
-- from PORTER_SESSION_SECRET, bound to the row (never readable by D1). Expired rows are removed when a token is made.
CREATE TABLE personal_tokens (
  id TEXT PRIMARY KEY NOT NULL,
  token_hash TEXT NOT NULL UNIQUE,
  user_id INTEGER NOT NULL,
  login TEXT NOT NULL,
  name TEXT NOT NULL,
  github_token TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX personal_tokens_user ON personal_tokens (user_id, created_at);
CREATE INDEX personal_tokens_expiry ON personal_tokens (expires_at);

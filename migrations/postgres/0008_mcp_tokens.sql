-- Porter on PostgreSQL, schema 8 (as migrations/0008_mcp_tokens.sql): users' personal Porter tokens for MCP clients.
-- The token itself is never stored: its SHA-256 (hex), the GitHub user, and that user's GitHub token sealed with a key
-- derived from PORTER_SESSION_SECRET, bound to the row.
CREATE TABLE personal_tokens (
  id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
  token_hash TEXT COLLATE "C" NOT NULL UNIQUE,
  user_id BIGINT NOT NULL,
  login TEXT NOT NULL,
  name TEXT NOT NULL,
  github_token TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX personal_tokens_user ON personal_tokens (user_id, created_at);
CREATE INDEX personal_tokens_expiry ON personal_tokens (expires_at);

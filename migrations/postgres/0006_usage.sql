-- Porter on PostgreSQL, schema 6 (as migrations/0006_usage.sql): the model gateway's metering and budgets. Costs are
-- DOUBLE PRECISION (SQLite's REAL), flags INTEGER 0/1 as on SQLite.
CREATE TABLE model_calls (
  id BIGSERIAL PRIMARY KEY,
  task_id TEXT COLLATE "C" NOT NULL,
  repo_key TEXT NOT NULL,
  user_id BIGINT NOT NULL,
  month TEXT NOT NULL,
  provider TEXT NOT NULL CHECK (provider IN ('anthropic', 'openai', 'gemini')),
  model TEXT NOT NULL,
  input_tokens BIGINT NOT NULL,
  output_tokens BIGINT NOT NULL,
  cache_read_tokens BIGINT NOT NULL,
  cache_write_tokens BIGINT NOT NULL,
  cost_usd DOUBLE PRECISION NOT NULL,
  estimated INTEGER NOT NULL CHECK (estimated IN (0, 1)),
  at BIGINT NOT NULL
);
CREATE INDEX model_calls_task ON model_calls (task_id);
CREATE INDEX model_calls_repo_month ON model_calls (repo_key, month, cost_usd);
CREATE INDEX model_calls_user_month ON model_calls (user_id, month, cost_usd);

CREATE TABLE task_budgets (
  task_id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
  budget_usd DOUBLE PRECISION NOT NULL
);

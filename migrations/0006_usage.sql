-- Porter on D1 (and SQLite on Node), schema 6: the model gateway's metering and budgets (@porter/sql, SqlUsageStore).
--
-- - `model_calls`: one row per model call the gateway passed through, written when its answer ended: the task, its
--   repository (lower('owner/name')) and requester, the calendar month (UTC, 'YYYY-MM') the budgets sum by, the
--   provider and model, tokens by kind (input without cached tokens), the cost in USD, and whether the figures were
--   estimated (an answer without usage figures). Sums per task, per repository and month and per requester and month
--   read an index each; the month indexes carry the cost, so those sums never read the table.
-- - `task_budgets`: the budget a request gave its task (`--budget <usd>`); none: the repository's `taskBudgetUsd`.
CREATE TABLE model_calls (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  task_id TEXT NOT NULL,
  repo_key TEXT NOT NULL,
  user_id INTEGER NOT NULL,
  month TEXT NOT NULL,
  provider TEXT NOT NULL CHECK (provider IN ('anthropic', 'openai', 'gemini')),
  model TEXT NOT NULL,
  input_tokens INTEGER NOT NULL,
  output_tokens INTEGER NOT NULL,
  cache_read_tokens INTEGER NOT NULL,
  cache_write_tokens INTEGER NOT NULL,
  cost_usd REAL NOT NULL,
  estimated INTEGER NOT NULL CHECK (estimated IN (0, 1)),
  at INTEGER NOT NULL
);
CREATE INDEX model_calls_task ON model_calls (task_id);
CREATE INDEX model_calls_repo_month ON model_calls (repo_key, month, cost_usd);
CREATE INDEX model_calls_user_month ON model_calls (user_id, month, cost_usd);

CREATE TABLE task_budgets (
  task_id TEXT PRIMARY KEY NOT NULL,
  budget_usd REAL NOT NULL
) WITHOUT ROWID;

/**
 * `UsageStore` on effect's `SqlClient` (SQLite on Node, Cloudflare D1, PostgreSQL): one `model_calls` row per metered
 * call and one `task_budgets` row per request that gave a `--budget` (migration 0006). A task's budget check is one
 * statement (the task's sums, its budget, its repository's and its requester's month), each part an index range.
 *
 * Cannot: delete or correct a recorded call (rows are only added); sums are read, not kept, so a month with very many
 * calls costs an index range scan per check (the gateway keeps them in memory between reads: `gateway.cacheMs`).
 */
import { ModelUsage } from "@porter/core"
import { Effect, Layer, Schema } from "effect"
import { SqlClient } from "effect/sql"
import * as Dialect from "./internal/dialect.ts"
import { orStoreError } from "./internal/errors.ts"

const Num = Dialect.Num

const TotalsRow = Schema.Struct({
  calls: Num,
  input_tokens: Num,
  output_tokens: Num,
  cache_read_tokens: Num,
  cache_write_tokens: Num,
  cost_usd: Num
})
const SpendRow = Schema.Struct({
  ...TotalsRow.fields,
  budget_usd: Schema.NullOr(Num),
  repo_month_usd: Num,
  user_month_usd: Num
})
const MonthRow = Schema.Struct({ repo_usd: Num, user_usd: Num })
const BudgetRow = Schema.Struct({ budget_usd: Num })

const decodeTotals = Schema.decodeUnknownEffect(Schema.Array(TotalsRow))
const decodeSpend = Schema.decodeUnknownEffect(Schema.Array(SpendRow))
const decodeMonth = Schema.decodeUnknownEffect(Schema.Array(MonthRow))
const decodeBudget = Schema.decodeUnknownEffect(Schema.Array(BudgetRow))

const totalsOf = (row: typeof TotalsRow.Type | undefined): ModelUsage.UsageTotals =>
  row === undefined ? ModelUsage.emptyTotals : {
    calls: row.calls,
    inputTokens: row.input_tokens,
    outputTokens: row.output_tokens,
    cacheReadTokens: row.cache_read_tokens,
    cacheWriteTokens: row.cache_write_tokens,
    costUsd: row.cost_usd
  }

/** Builds the store on the ambient `SqlClient`. */
export const make: Effect.Effect<ModelUsage.UsageStore["Service"], never, SqlClient.SqlClient> = Effect.gen(
  function*() {
    const sql = yield* SqlClient.SqlClient
    const dialect = yield* Dialect.of(sql)
    const failed = (operation: string) => orStoreError(operation, dialect.label)
    // Sums as whole numbers on both dialects (PostgreSQL's sum of BIGINT is NUMERIC, which arrives as text).
    const totals = sql.literal(
      [
        "count(*) AS calls",
        "CAST(coalesce(sum(input_tokens), 0) AS BIGINT) AS input_tokens",
        "CAST(coalesce(sum(output_tokens), 0) AS BIGINT) AS output_tokens",
        "CAST(coalesce(sum(cache_read_tokens), 0) AS BIGINT) AS cache_read_tokens",
        "CAST(coalesce(sum(cache_write_tokens), 0) AS BIGINT) AS cache_write_tokens",
        "coalesce(sum(cost_usd), 0) AS cost_usd"
      ].join(", ")
    )
    const repoMonth = (repo: string, month: string) =>
      sql`SELECT coalesce(sum(cost_usd), 0) FROM model_calls WHERE repo_key = ${repo.toLowerCase()} AND month = ${month}`
    const userMonth = (userId: number, month: string) =>
      sql`SELECT coalesce(sum(cost_usd), 0) FROM model_calls WHERE user_id = ${userId} AND month = ${month}`

    const record: ModelUsage.UsageStore["Service"]["record"] = (call) =>
      sql`INSERT INTO model_calls ${
        sql.insert({
          task_id: call.taskId,
          repo_key: call.repo.toLowerCase(),
          user_id: call.userId,
          month: ModelUsage.monthOf(call.at),
          provider: call.provider,
          model: call.model,
          input_tokens: call.inputTokens,
          output_tokens: call.outputTokens,
          cache_read_tokens: call.cacheReadTokens,
          cache_write_tokens: call.cacheWriteTokens,
          cost_usd: call.costUsd,
          estimated: call.estimated ? 1 : 0,
          at: call.at
        })
      }`.pipe(Effect.asVoid, failed("record a model call"))

    const setBudget: ModelUsage.UsageStore["Service"]["setBudget"] = (taskId, usd) =>
      sql`INSERT INTO task_budgets (task_id, budget_usd) VALUES (${taskId}, ${usd})
        ON CONFLICT (task_id) DO UPDATE SET budget_usd = excluded.budget_usd`.pipe(
        Effect.asVoid,
        failed("set a budget")
      )

    const budget: ModelUsage.UsageStore["Service"]["budget"] = (taskId) =>
      sql`SELECT budget_usd FROM task_budgets WHERE task_id = ${taskId}`.pipe(
        Effect.flatMap(decodeBudget),
        Effect.map((rows) => rows[0]?.budget_usd),
        failed("read a budget")
      )

    const task: ModelUsage.UsageStore["Service"]["task"] = (taskId) =>
      sql`SELECT ${totals} FROM model_calls WHERE task_id = ${taskId}`.pipe(
        Effect.flatMap(decodeTotals),
        Effect.map((rows) => totalsOf(rows[0])),
        failed("sum a task's calls")
      )

    const spend: ModelUsage.UsageStore["Service"]["spend"] = (query) =>
      sql`SELECT ${totals},
          (SELECT budget_usd FROM task_budgets WHERE task_id = ${query.taskId}) AS budget_usd,
          (${repoMonth(query.repo, query.month)}) AS repo_month_usd,
          (${userMonth(query.userId, query.month)}) AS user_month_usd
        FROM model_calls WHERE task_id = ${query.taskId}`.pipe(
        Effect.flatMap(decodeSpend),
        Effect.map((rows) => {
          const row = rows[0]
          return {
            task: totalsOf(row),
            budgetUsd: row?.budget_usd ?? undefined,
            repoMonthUsd: row?.repo_month_usd ?? 0,
            userMonthUsd: row?.user_month_usd ?? 0
          }
        }),
        failed("read a task's spend")
      )

    const month: ModelUsage.UsageStore["Service"]["month"] = (query) =>
      sql`SELECT (${repoMonth(query.repo, query.month)}) AS repo_usd, (${
        userMonth(query.userId, query.month)
      }) AS user_usd`.pipe(
        Effect.flatMap(decodeMonth),
        Effect.map((rows) => ({ repoUsd: rows[0]?.repo_usd ?? 0, userUsd: rows[0]?.user_usd ?? 0 })),
        failed("read a month's spend")
      )

    return ModelUsage.UsageStore.of({ record, setBudget, budget, task, spend, month })
  }
)

/** `UsageStore` on the ambient `SqlClient`. */
export const layer: Layer.Layer<ModelUsage.UsageStore, never, SqlClient.SqlClient> = Layer.effect(
  ModelUsage.UsageStore,
  make
)

/**
 * UsageStore: every model call Porter's gateway passed through, as it ended — task, provider, model, tokens by kind,
 * cost — and the sums budgets and reports read: per task, per repository per calendar month (UTC) and per requester
 * per month; and the budget a request gave its task (`--budget`). One row per call, written after the answer (never in its way); sums are read when a task's budget
 * state is refreshed and when a new request is checked against the monthly budgets.
 *
 * Adapters: in memory (`@porter/testing`), SQL (`@porter/sql`'s `SqlUsageStore`: SQLite, D1, PostgreSQL). All pass
 * the conformance suite in `@porter/testing`.
 */
import { Context, Schema } from "effect"
import type { Effect } from "effect"
import type { StoreError } from "./Errors.ts"
import { TaskId } from "./Ids.ts"
import type { Tokens } from "./Pricing.ts"
import { Usage } from "./Task.ts"

/** The model APIs Porter's gateway speaks. */
export const Provider = Schema.Literals(["anthropic", "openai", "gemini"])
export type Provider = typeof Provider.Type

const Count = Schema.Int.pipe(Schema.check(Schema.isBetween({ minimum: 0, maximum: 1e12 })))
const Usd = Schema.Number.pipe(Schema.check(Schema.isBetween({ minimum: 0, maximum: 1e6 })))

/** One metered model call. */
export class ModelCall extends Schema.Class<ModelCall>("@porter/core/ModelCall")({
  taskId: TaskId,
  /** `owner/name`. */
  repo: Schema.String,
  /** The task's requester (GitHub user id): the per-user monthly budget's key. */
  userId: Schema.Int,
  provider: Provider,
  model: Schema.String.pipe(Schema.check(Schema.isMaxLength(200))),
  /** Input tokens not read from a cache. */
  inputTokens: Count,
  outputTokens: Count,
  cacheReadTokens: Count,
  cacheWriteTokens: Count,
  costUsd: Usd,
  /** No usage figures in the answer (cut short, or a client that did not ask for them): counted from its bytes. */
  estimated: Schema.Boolean,
  /** Epoch millis when the answer ended. */
  at: Schema.Number
}) {}

/** Sums over calls. */
export interface UsageTotals extends Tokens {
  readonly calls: number
  readonly costUsd: number
}

/** Totals of no calls. */
export const emptyTotals: UsageTotals = {
  calls: 0,
  inputTokens: 0,
  outputTokens: 0,
  cacheReadTokens: 0,
  cacheWriteTokens: 0,
  costUsd: 0
}

/** `totals` with one more call. */
export const addCall = (totals: UsageTotals, call: Tokens & { readonly costUsd: number }): UsageTotals => ({
  calls: totals.calls + 1,
  inputTokens: totals.inputTokens + call.inputTokens,
  outputTokens: totals.outputTokens + call.outputTokens,
  cacheReadTokens: totals.cacheReadTokens + call.cacheReadTokens,
  cacheWriteTokens: totals.cacheWriteTokens + call.cacheWriteTokens,
  costUsd: totals.costUsd + call.costUsd
})

/** The calendar month (UTC) of an instant, `YYYY-MM`: the monthly budgets' period. */
export const monthOf = (ms: number): string => new Date(ms).toISOString().slice(0, 7)

/** What a task's budget check needs, in one read. */
export interface SpendQuery {
  readonly taskId: TaskId
  readonly repo: string
  readonly userId: number
  readonly month: string
}

/** The task's sums and own budget, and the cost so far this month of its repository and of its requester. */
export interface Spend {
  readonly task: UsageTotals
  /** The request's `--budget`, when it gave one. */
  readonly budgetUsd: number | undefined
  readonly repoMonthUsd: number
  readonly userMonthUsd: number
}

/** A task's gateway sums as the task's `usage` (`agentUsage`'s duration and turns kept). */
export const toUsage = (totals: UsageTotals, agentUsage?: Usage): Usage =>
  new Usage({
    ...agentUsage,
    inputTokens: totals.inputTokens,
    outputTokens: totals.outputTokens,
    cacheReadTokens: totals.cacheReadTokens,
    cacheWriteTokens: totals.cacheWriteTokens,
    // Rounded to a millionth of a dollar: sums of floats must not show 0.30000000000000004.
    costUsd: Math.min(1e6, Math.round(totals.costUsd * 1e6) / 1e6)
  })

/** The gateway's metered calls: recorded one by one, summed per task, repository and user. */
export class UsageStore extends Context.Service<UsageStore, {
  /** Records one call. */
  readonly record: (call: ModelCall) => Effect.Effect<void, StoreError>
  /** Records the budget a request gave its task (`--budget`), before the task is created. */
  readonly setBudget: (taskId: TaskId, usd: number) => Effect.Effect<void, StoreError>
  /** The budget a request gave its task, if any. */
  readonly budget: (taskId: TaskId) => Effect.Effect<number | undefined, StoreError>
  /** A task's sums (zeros when it made no call). */
  readonly task: (taskId: TaskId) => Effect.Effect<UsageTotals, StoreError>
  /** The task's sums and its repository's and requester's spend in `month`, in one read. */
  readonly spend: (query: SpendQuery) => Effect.Effect<Spend, StoreError>
  /** A repository's (`owner/name`, any case) and a user's spend in `month`, USD. */
  readonly month: (query: {
    readonly repo: string
    readonly userId: number
    readonly month: string
  }) => Effect.Effect<{ readonly repoUsd: number; readonly userUsd: number }, StoreError>
}>()("@porter/core/UsageStore") {}

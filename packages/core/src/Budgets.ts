/**
 * Budgets: what a task's model calls may cost, checked by the gateway before each call and by `Commands` before a
 * request starts a task. Three caps, all in USD:
 *
 * - the task's: its request's `--budget`, else the repository's `taskBudgetUsd` (default $10);
 * - the repository's per calendar month (UTC), `repoMonthlyBudgetUsd` (0: none);
 * - the requester's per month, all repositories together, `userMonthlyBudgetUsd` (0: none).
 *
 * A cap is reached when what was spent is at or over it: the call that crosses it is allowed (its cost is only known
 * once it ends), the next one is refused — at most one call over per call in flight.
 */
import { Effect } from "effect"
import type { AgentSpec } from "./Agent.ts"
import type { StoreError } from "./Errors.ts"
import { monthOf, type UsageStore } from "./ModelUsage.ts"
import * as Pricing from "./Pricing.ts"
import type { RepoSettings } from "./Settings.ts"

/** A task's budget and the monthly budgets of its repository and requester, in US dollars. */
export interface Caps {
  readonly taskUsd: number
  /** 0: none. */
  readonly repoMonthUsd: number
  /** 0: none. */
  readonly userMonthUsd: number
}

/** The budgets that apply to a task: its own (or the repository's default) and the monthly ones. */
export const capsOf = (settings: RepoSettings, budgetUsd: number | undefined): Caps => ({
  taskUsd: budgetUsd ?? settings.taskBudgetUsd,
  repoMonthUsd: settings.repoMonthlyBudgetUsd,
  userMonthUsd: settings.userMonthlyBudgetUsd
})

/** A cap that is reached. */
export interface Reached {
  readonly which: "task" | "repository" | "user"
  readonly spentUsd: number
  readonly capUsd: number
}

/** The first cap reached (the task's, the repository's, the requester's), if any. */
export const reached = (
  caps: Caps,
  spent: { readonly taskUsd: number; readonly repoMonthUsd: number; readonly userMonthUsd: number }
): Reached | undefined =>
  spent.taskUsd >= caps.taskUsd
    ? { which: "task", spentUsd: spent.taskUsd, capUsd: caps.taskUsd }
    : monthly(caps, spent)

/** The first monthly cap reached (the repository's, then the requester's), if any. */
export const monthly = (
  caps: Caps,
  spent: { readonly repoMonthUsd: number; readonly userMonthUsd: number }
): Reached | undefined =>
  caps.repoMonthUsd > 0 && spent.repoMonthUsd >= caps.repoMonthUsd
    ? { which: "repository", spentUsd: spent.repoMonthUsd, capUsd: caps.repoMonthUsd }
    : caps.userMonthUsd > 0 && spent.userMonthUsd >= caps.userMonthUsd
    ? { which: "user", spentUsd: spent.userMonthUsd, capUsd: caps.userMonthUsd }
    : undefined

/** The budget in words: `this task's $1.00 budget`, `octo/app's $50.00 monthly budget for 2026-12`, … */
export const describe = (
  reached: Reached,
  who: { readonly repo: string; readonly login: string; readonly month: string }
) =>
  reached.which === "task"
    ? `this task's ${Pricing.formatBudget(reached.capUsd)} budget`
    : reached.which === "repository"
    ? `${who.repo}'s ${Pricing.formatBudget(reached.capUsd)} monthly budget for ${who.month}`
    : `@${who.login}'s ${Pricing.formatBudget(reached.capUsd)} monthly budget for ${who.month}`

/** Why a task ended (its `reason`): `budget reached: $1.0234 spent of this task's $1.00 budget`. */
export const reason = (
  reached: Reached,
  who: { readonly repo: string; readonly login: string; readonly month: string }
): string => `budget reached: ${Pricing.formatUsd(reached.spentUsd)} spent of ${describe(reached, who)}`

/** `--budget`'s value: `5`, `$5`, `2.50`, `0.5` → USD (more than 0, at most 1,000,000); else `undefined`. */
export const parseUsd = (text: string): number | undefined => {
  const match = /^\$?(\d{1,7}(?:\.\d{1,4})?)$/.exec(text.trim())
  if (match === null) return undefined
  const usd = Number(match[1])
  return usd > 0 && usd <= 1e6 ? usd : undefined
}

/**
 * Why `agent` cannot honour a flag it was given (the answer on the issue), if it cannot: a CLI with no model option
 * (Amp, the script agent) ignores `--model`; an agent that calls its own service with its own key (Amp) is not
 * metered, so `--budget` would not hold. Porter refuses rather than show a flag as used when it was not.
 */
export const unhonouredFlag = (
  agent: AgentSpec | undefined,
  flags: { readonly model: string | undefined; readonly budgetUsd: number | undefined }
): string | undefined =>
  agent === undefined
    ? undefined
    : flags.model !== undefined && agent.acceptsModel === false
    ? `\`${agent.name}\` cannot be told a model (its CLI has none to choose), so \`--model\` would be ignored; ` +
      "nothing was started. Leave it out, or ask an agent that takes one."
    : flags.budgetUsd !== undefined && agent.keysOnMachine === true
    ? `\`${agent.name}\` calls its own service with its own key, which Porter cannot meter, so \`--budget\` would not ` +
      "hold; nothing was started. Leave it out, or ask another agent."
    : undefined

/**
 * Why a new request of `login` on `repo` must not start (the reply on the issue), when the repository's or the
 * requester's monthly budget is spent; `undefined` when it may.
 */
export const monthlyRefusal = (
  usage: UsageStore["Service"],
  settings: RepoSettings,
  who: { readonly repo: string; readonly login: string; readonly userId: number },
  now: number
): Effect.Effect<string | undefined, StoreError> => {
  const caps = capsOf(settings, undefined)
  if (caps.repoMonthUsd === 0 && caps.userMonthUsd === 0) return Effect.succeed(undefined)
  const month = monthOf(now)
  return Effect.map(usage.month({ repo: who.repo, userId: who.userId, month }), (spent) => {
    const over = monthly(caps, { repoMonthUsd: spent.repoUsd, userMonthUsd: spent.userUsd })
    if (over === undefined) return undefined
    const setting = over.which === "repository" ? "repoMonthlyBudgetUsd" : "userMonthlyBudgetUsd"
    return `Nothing was started: ${Pricing.formatUsd(over.spentUsd)} is spent of ${
      describe(over, { ...who, month })
    } (the setting \`${setting}\`). It renews on the 1st of next month (UTC), or an administrator can raise it.`
  })
}

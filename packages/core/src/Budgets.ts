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
import * as Pricing from "./Pricing.ts"
import type { RepoSettings } from "./Settings.ts"

export interface Caps {
  readonly taskUsd: number
  /** 0: none. */
  readonly repoMonthUsd: number
  /** 0: none. */
  readonly userMonthUsd: number
}

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
    ? `this task's ${Pricing.formatUsd(reached.capUsd)} budget`
    : reached.which === "repository"
    ? `${who.repo}'s ${Pricing.formatUsd(reached.capUsd)} monthly budget for ${who.month}`
    : `@${who.login}'s ${Pricing.formatUsd(reached.capUsd)} monthly budget for ${who.month}`

/** Why a task ended (its `reason`): `budget reached: $1.0234 spent of this task's $1.00 budget`. */
export const reason = (
  reached: Reached,
  who: { readonly repo: string; readonly login: string; readonly month: string }
): string => `budget reached: ${Pricing.formatUsd(reached.spentUsd)} spent of ${describe(reached, who)}`

/** UsageStore in memory: one array of calls, sums computed on read (tests, single-process hosts without a database). */
import { ModelUsage } from "@porter/core"
import { Effect, Layer } from "effect"

/** A `UsageStore` in memory: the gateway's metered calls. */
export const make: Effect.Effect<ModelUsage.UsageStore["Service"]> = Effect.sync(() => {
  const calls: Array<ModelUsage.ModelCall> = []
  const budgets = new Map<string, number>()
  const sum = (filter: (call: ModelUsage.ModelCall) => boolean) =>
    calls.reduce((totals, call) => (filter(call) ? ModelUsage.addCall(totals, call) : totals), ModelUsage.emptyTotals)
  const inMonth = (month: string) => (call: ModelUsage.ModelCall) => ModelUsage.monthOf(call.at) === month
  const sameRepo = (repo: string) => (call: ModelUsage.ModelCall) => call.repo.toLowerCase() === repo.toLowerCase()
  return ModelUsage.UsageStore.of({
    record: (call) => Effect.sync(() => void calls.push(call)),
    setBudget: (taskId, usd) => Effect.sync(() => void budgets.set(taskId, usd)),
    budget: (taskId) => Effect.sync(() => budgets.get(taskId)),
    task: (taskId) => Effect.sync(() => sum((call) => call.taskId === taskId)),
    spend: (query) =>
      Effect.sync(() => {
        const month = inMonth(query.month)
        const repo = sameRepo(query.repo)
        return {
          task: sum((call) => call.taskId === query.taskId),
          budgetUsd: budgets.get(query.taskId),
          repoMonthUsd: sum((call) => month(call) && repo(call)).costUsd,
          userMonthUsd: sum((call) => month(call) && call.userId === query.userId).costUsd
        }
      }),
    month: (query) =>
      Effect.sync(() => {
        const month = inMonth(query.month)
        const repo = sameRepo(query.repo)
        return {
          repoUsd: sum((call) => month(call) && repo(call)).costUsd,
          userUsd: sum((call) => month(call) && call.userId === query.userId).costUsd
        }
      })
  })
})

/** `UsageStore` in memory. */
export const layer: Layer.Layer<ModelUsage.UsageStore> = Layer.effect(ModelUsage.UsageStore, make)

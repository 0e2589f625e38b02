/** The UsageStore contract, run by every adapter. */
import { assert, describe, layer as withLayer } from "@effect/vitest"
import { Ids, ModelUsage } from "@porter/core"
import { Effect, type Layer } from "effect"

let serial = 0
const unique = () => `${Date.now().toString(36)}${(serial++).toString(36)}`

const DEC_2026 = Date.UTC(2026, 11, 15, 12)
const NOV_2026 = Date.UTC(2026, 10, 30, 23, 59)

const call = (
  fields: Partial<ConstructorParameters<typeof ModelUsage.ModelCall>[0]> & {
    readonly taskId: Ids.TaskId
    readonly repo: string
    readonly userId: number
  }
) =>
  new ModelUsage.ModelCall({
    provider: "anthropic",
    model: "claude-sonnet-4-5",
    inputTokens: 100,
    outputTokens: 10,
    cacheReadTokens: 0,
    cacheWriteTokens: 0,
    costUsd: 0.01,
    estimated: false,
    at: DEC_2026,
    ...fields
  })

const close = (actual: number, expected: number) => assert.approximately(actual, expected, 1e-9)

/** Registers the `UsageStore` contract's tests against `layer`. */
export const run = <E>(name: string, layer: Layer.Layer<ModelUsage.UsageStore, E>) =>
  describe(`UsageStore conformance: ${name}`, () => {
    withLayer(layer, { timeout: 60_000, excludeTestServices: true })((it) => {
      it.effect("a task without calls sums to zero and has no budget", () =>
        Effect.gen(function*() {
          const usage = yield* ModelUsage.UsageStore
          const taskId = yield* Ids.makeTaskId
          assert.deepStrictEqual(yield* usage.task(taskId), ModelUsage.emptyTotals)
          assert.isUndefined(yield* usage.budget(taskId))
          const spend = yield* usage.spend({ taskId, repo: `conf-${unique()}/r`, userId: 1, month: "2026-12" })
          assert.deepStrictEqual(spend, {
            task: ModelUsage.emptyTotals,
            budgetUsd: undefined,
            repoMonthUsd: 0,
            userMonthUsd: 0
          })
        }))

      it.effect("a task's calls sum by kind; its spend, its repository's and its requester's month", () =>
        Effect.gen(function*() {
          const usage = yield* ModelUsage.UsageStore
          const repo = `Conf-${unique()}/App`
          const userId = 500_000 + serial++
          const taskId = yield* Ids.makeTaskId
          const other = yield* Ids.makeTaskId
          yield* usage.record(call({ taskId, repo, userId, inputTokens: 1_000, outputTokens: 200, costUsd: 0.1 }))
          yield* usage.record(call({
            taskId,
            repo,
            userId,
            provider: "openai",
            model: "gpt-5-codex",
            inputTokens: 10,
            outputTokens: 20,
            cacheReadTokens: 30,
            cacheWriteTokens: 40,
            costUsd: 0.2,
            estimated: true
          }))
          // Another task of the same repository by someone else; the same requester elsewhere; last month.
          yield* usage.record(call({ taskId: other, repo: repo.toLowerCase(), userId: userId + 1, costUsd: 1 }))
          yield* usage.record(call({ taskId: other, repo: `conf-${unique()}/elsewhere`, userId, costUsd: 2 }))
          yield* usage.record(call({ taskId: other, repo, userId, costUsd: 4, at: NOV_2026 }))

          const totals = yield* usage.task(taskId)
          assert.strictEqual(totals.calls, 2)
          assert.strictEqual(totals.inputTokens, 1_010)
          assert.strictEqual(totals.outputTokens, 220)
          assert.strictEqual(totals.cacheReadTokens, 30)
          assert.strictEqual(totals.cacheWriteTokens, 40)
          close(totals.costUsd, 0.3)

          const spend = yield* usage.spend({ taskId, repo: repo.toUpperCase(), userId, month: "2026-12" })
          assert.deepStrictEqual({ ...spend.task, costUsd: 0 }, { ...totals, costUsd: 0 })
          close(spend.repoMonthUsd, 1.3)
          close(spend.userMonthUsd, 2.3)
          const month = yield* usage.month({ repo, userId, month: "2026-12" })
          close(month.repoUsd, 1.3)
          close(month.userUsd, 2.3)
          const november = yield* usage.month({ repo, userId, month: "2026-11" })
          close(november.repoUsd, 4)
          close(november.userUsd, 4)
        }))

      it.effect("a request's budget is kept per task; setting it again replaces it", () =>
        Effect.gen(function*() {
          const usage = yield* ModelUsage.UsageStore
          const taskId = yield* Ids.makeTaskId
          yield* usage.setBudget(taskId, 2.5)
          assert.strictEqual(yield* usage.budget(taskId), 2.5)
          yield* usage.setBudget(taskId, 0.75)
          assert.strictEqual(yield* usage.budget(taskId), 0.75)
          const spend = yield* usage.spend({ taskId, repo: `conf-${unique()}/r`, userId: 9, month: "2026-12" })
          assert.strictEqual(spend.budgetUsd, 0.75)
        }))

      it.effect("calls recorded at once are all counted", () =>
        Effect.gen(function*() {
          const usage = yield* ModelUsage.UsageStore
          const repo = `conf-${unique()}/busy`
          const taskId = yield* Ids.makeTaskId
          yield* Effect.forEach(
            Array.from({ length: 40 }, (_, i) => call({ taskId, repo, userId: 77, outputTokens: i })),
            (c) => usage.record(c),
            { concurrency: 8 }
          )
          const totals = yield* usage.task(taskId)
          assert.strictEqual(totals.calls, 40)
          assert.strictEqual(totals.outputTokens, (39 * 40) / 2)
          close(totals.costUsd, 0.4)
        }))
    })
  })

/**
 * Budgets on the issue: `--budget <usd>` (within the repository's maximum), flags an agent cannot honour refused by
 * name, and a new request refused with a comment naming the monthly budget that is spent — nothing starts.
 */
import { assert, describe, it } from "@effect/vitest"
import {
  AgentCatalog,
  Budgets,
  CommandParser,
  Ids,
  ModelUsage,
  Porter,
  SecretStore,
  Settings,
  TaskStore
} from "@porter/core"
import { Fixtures, GitHubRecorder, Machines, TestPorter } from "@porter/testing"
import { Clock, Effect, Option } from "effect"

const catalog = AgentCatalog.make(AgentCatalog.builtInAgents)
const parse = (text: string, settings = Settings.defaults) =>
  CommandParser.parse(text, settings, catalog.list, catalog.resolve)

describe("--budget and flags an agent cannot honour", () => {
  it("--budget takes dollars, within the repository's maximum per task", () => {
    const run = parse("@porter claude --budget 2.50 fix it")
    assert.strictEqual(run._tag, "Run")
    if (run._tag === "Run") assert.strictEqual(run.budgetUsd, 2.5)
    const dollar = parse("@porter --budget=$3 fix it")
    assert.strictEqual(dollar._tag === "Run" ? dollar.budgetUsd : undefined, 3)
    for (const bad of ["@porter claude --budget lots fix", "@porter claude --budget 0 fix", "@porter --budget"]) {
      const problem = parse(bad)
      assert.strictEqual(problem._tag === "Problem" ? problem.kind : problem._tag, "bad_flag_value", bad)
    }
    const high = parse("@porter claude --budget 500 fix it")
    assert.strictEqual(high._tag === "Problem" ? high.kind : high._tag, "budget_too_high")
    if (high._tag === "Problem") assert.include(high.message, "$100.00")
    const raised = parse(
      "@porter claude --budget 500 fix it",
      new Settings.RepoSettings({
        ...Settings.defaults,
        maxTaskBudgetUsd: 1_000
      })
    )
    assert.strictEqual(raised._tag, "Run")
  })

  it("--model for Amp or the script agent, and --budget for Amp, are refused naming the agent", () => {
    for (
      const [text, agent, flag] of [
        ["@porter amp --model gpt-5 fix it", "amp", "--model"],
        ["@porter script --model opus do it", "script", "--model"],
        ["@porter amp --budget 2 fix it", "amp", "--budget"]
      ] as const
    ) {
      const problem = parse(text)
      assert.strictEqual(problem._tag === "Problem" ? problem.kind : problem._tag, "unsupported_flag", text)
      if (problem._tag === "Problem") {
        assert.include(problem.message, `\`${agent}\``)
        assert.include(problem.message, flag)
        assert.include(problem.message, "nothing was started")
      }
    }
    // The default agent is checked too; agents that take the flag keep it.
    const ampDefault = new Settings.RepoSettings({ ...Settings.defaults, defaultAgent: "amp" })
    assert.strictEqual(parse("@porter --model x fix it", ampDefault)._tag, "Problem")
    const codex = parse("@porter codex --model gpt-5 --budget 1 fix it")
    assert.deepStrictEqual(codex._tag === "Run" ? [codex.model, codex.budgetUsd] : [], ["gpt-5", 1])
  })

  it("parseUsd", () => {
    assert.deepStrictEqual(["5", "$5", "2.50", "0.5", " 7 "].map(Budgets.parseUsd), [5, 5, 2.5, 0.5, 7])
    assert.deepStrictEqual(["-1", "0", "1e3", "five", "$", "2,50"].map(Budgets.parseUsd), [
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined
    ])
  })
})

const withKey = {
  secrets: [{ scope: SecretStore.scopes.global, name: "ANTHROPIC_API_KEY", value: "sk-ant-test-budget-key" }]
}

/** A call of `repo`'s requester (the fixtures' author, id 1001) this month, costing `costUsd`. */
const spent = (repo: string, userId: number, costUsd: number) =>
  Effect.gen(function*() {
    const usage = yield* ModelUsage.UsageStore
    yield* usage.record(
      new ModelUsage.ModelCall({
        taskId: yield* Ids.makeTaskId,
        repo,
        userId,
        provider: "anthropic",
        model: "claude-sonnet-4-5",
        inputTokens: 1,
        outputTokens: 1,
        cacheReadTokens: 0,
        cacheWriteTokens: 0,
        costUsd,
        estimated: false,
        at: yield* Clock.currentTimeMillis
      })
    )
  })

describe("monthly budgets refuse new requests", () => {
  it.effect("a repository's spent budget: a comment names it, nothing starts", () =>
    Effect.gen(function*() {
      const event = Fixtures.commentCreated({ body: "@porter claude fix it" })
      yield* spent(event.repo.fullName, 999, 50.5)
      const porter = yield* Porter.Porter
      yield* porter.handle(event)
      const comments = yield* (yield* GitHubRecorder).allText
      const refusal = comments.find((body) => body.includes("monthly budget"))
      assert.isDefined(refusal, comments.join("\n---\n"))
      assert.include(refusal!, `${event.repo.fullName}'s $50.00 monthly budget`)
      assert.include(refusal!, "$50.50 is spent")
      assert.include(refusal!, "repoMonthlyBudgetUsd")
      assert.strictEqual((yield* (yield* Machines).created).length, 0)
      assert.strictEqual((yield* (yield* TaskStore.TaskStore).list({ limit: 10 })).length, 0)
    }).pipe(Effect.provide(TestPorter.layer({
      ...withKey,
      settings: new Settings.RepoSettings({ ...Settings.defaults, repoMonthlyBudgetUsd: 50 })
    }))))

  it.effect("a requester's spent budget (all repositories together) refuses them, not others", () =>
    Effect.gen(function*() {
      const mine = Fixtures.commentCreated({ body: "@porter claude fix it" })
      yield* spent("elsewhere/other", mine.author.id, 20)
      const porter = yield* Porter.Porter
      yield* porter.handle(mine)
      const comments = yield* (yield* GitHubRecorder).allText
      assert.isTrue(comments.some((b) => b.includes(`@${mine.author.login}'s $20.00 monthly budget`)))
      assert.strictEqual((yield* (yield* Machines).created).length, 0)
    }).pipe(Effect.provide(TestPorter.layer({
      ...withKey,
      settings: new Settings.RepoSettings({ ...Settings.defaults, userMonthlyBudgetUsd: 20 })
    }))))

  it.effect("a request's --budget is kept for its task (and for a retry of it)", () =>
    Effect.gen(function*() {
      const porter = yield* Porter.Porter
      yield* porter.handle(Fixtures.commentCreated({ body: "@porter claude --budget 1.25 fix it" }))
      const created = yield* (yield* Machines).created
      assert.strictEqual(created.length, 1)
      const usage = yield* ModelUsage.UsageStore
      assert.strictEqual(yield* usage.budget(created[0]!.spec.taskId), 1.25)
      const store = yield* TaskStore.TaskStore
      const task = yield* store.get(created[0]!.spec.taskId)
      yield* porter.cancelTask(task.id, "test")
      yield* porter.handle(Fixtures.commentCreated({ body: "@porter retry" }))
      const again = yield* (yield* Machines).created
      const retried = Option.fromNullishOr(again.find((m) => m.spec.taskId !== task.id))
      assert.isTrue(Option.isSome(retried))
      assert.strictEqual(yield* usage.budget(Option.getOrThrow(retried).spec.taskId), 1.25)
    }).pipe(Effect.provide(TestPorter.layer(withKey))))
})

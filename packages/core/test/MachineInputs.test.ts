/**
 * MachineInputs: what a claimed task's machine is started with — its credentials as secret variables only, the prompt
 * from the issue, the repository's setup — read once when the request's handling already has the issue and the
 * configuration, and read from GitHub for a task dispatched later; a request that cannot run is refused with the
 * sentence the issue gets, naming what is missing, never a value.
 */
import { assert, describe, it } from "@effect/vitest"
import { Event, MachineEnv, MachineInputs, RepoConfig, TaskStore } from "@porter/core"
import { GitHubRecorder } from "@porter/testing"
import { Effect, Redacted, Schema } from "effect"
import { ANTHROPIC_KEY, layer, REPO, storedTask } from "./support/Lifecycle.ts"

const decodeEnv = Schema.decodeUnknownSync(MachineEnv.MachineEnv)

const ready = (prepared: MachineInputs.Prepared) => {
  if (prepared._tag !== "Ready") return assert.fail(`refused: ${prepared.reason}`)
  return prepared
}

describe("MachineInputs.prepare", () => {
  it.effect("a claimed task: the task's two credentials as secret variables, the provider key nowhere", () =>
    Effect.gen(function*() {
      const task = yield* storedTask()
      const { credential, spec } = ready(yield* (yield* MachineInputs.MachineInputs).prepare(task, undefined))
      assert.deepStrictEqual(Object.keys(spec.secretEnv).sort(), ["CALLBACK_TOKEN", "GATEWAY_TOKEN"])
      assert.isUndefined(credential)
      const everything = JSON.stringify([spec.env, Object.values(spec.secretEnv).map(Redacted.value)])
      assert.notInclude(everything, ANTHROPIC_KEY)
      assert.strictEqual(decodeEnv(spec.env).TASK_ID, task.id)
      // Whose key ran is on the task's trail (name and scope only).
      const trail = yield* Effect.flatMap(TaskStore.TaskStore, (store) => store.events(task.id))
      assert.strictEqual(trail.find((e) => e.kind === "secrets")?.detail, "ANTHROPIC_API_KEY from global")
    }).pipe(Effect.provide(layer())))

  it.effect("with the issue and configuration at hand, GitHub is not asked for them again", () =>
    Effect.gen(function*() {
      const recorder = yield* GitHubRecorder
      const task = yield* storedTask()
      const issue = new Event.IssueSnapshot({ title: "Dates", body: "Parse `2026-W05`.", state: "open" })
      const config: RepoConfig.Loaded = { file: { setup: ["make deps"] }, text: "setup:\n  - make deps\n" }
      const { spec } = ready(yield* (yield* MachineInputs.MachineInputs).prepare(task, { issue, config }))
      const env = decodeEnv(spec.env)
      assert.include(env.PROMPT, "Parse `2026-W05`.")
      assert.deepStrictEqual(env.SETUP_COMMANDS, ["make deps"])
      assert.strictEqual(yield* recorder.calls("issue"), 0)
      assert.strictEqual(yield* recorder.calls("file"), 0)
    }).pipe(Effect.provide(layer())))

  it.effect("dispatched later (nothing at hand): the issue and .github/porter.yml are read from GitHub", () =>
    Effect.gen(function*() {
      const recorder = yield* GitHubRecorder
      yield* recorder.seedIssue(`${REPO}#1`, new Event.IssueSnapshot({ title: "Dates", body: "W05", state: "open" }))
      yield* recorder.seedFile(REPO, ".github/porter.yml", "setup:\n  - npm ci\n")
      const task = yield* storedTask()
      const { spec } = ready(yield* (yield* MachineInputs.MachineInputs).prepare(task, undefined))
      const env = decodeEnv(spec.env)
      assert.strictEqual(env.ISSUE_TITLE, "Dates")
      assert.deepStrictEqual(env.SETUP_COMMANDS, ["npm ci"])
      assert.strictEqual(yield* recorder.calls("issue"), 1)
      assert.strictEqual(yield* recorder.calls("file"), 1)
    }).pipe(Effect.provide(layer())))

  it.effect("no key for the agent: refused, naming the variable and where to set it", () =>
    Effect.gen(function*() {
      const task = yield* storedTask()
      const prepared = yield* (yield* MachineInputs.MachineInputs).prepare(task, undefined)
      assert.strictEqual(prepared._tag, "Refused")
      if (prepared._tag === "Refused") {
        assert.include(prepared.reason, "`ANTHROPIC_API_KEY`")
        assert.include(prepared.reason, `porter secrets set ANTHROPIC_API_KEY --scope repository:${REPO}`)
      }
    }).pipe(Effect.provide(layer({ secrets: [], agentKeys: {} }))))

  it.effect("an agent this deployment does not have: refused", () =>
    Effect.gen(function*() {
      const task = yield* storedTask({ agent: "nonesuch" })
      const prepared = yield* (yield* MachineInputs.MachineInputs).prepare(task, undefined)
      assert.deepStrictEqual(prepared, { _tag: "Refused", reason: "no agent called `nonesuch` is configured here" })
    }).pipe(Effect.provide(layer())))
})

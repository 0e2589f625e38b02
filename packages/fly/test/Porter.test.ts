/**
 * The orchestration with the Fly provisioner in place of the in-memory one, against the local machines server:
 * each fault ends in a machine (after retries) or in a failure the user reads on the issue.
 */
import { assert, describe, it } from "@effect/vitest"
import { Callback, type Ids, Porter, SecretStore, TaskStore } from "@porter/core"
import type { FlyMachines } from "@porter/fly"
import { Fixtures, GitHubRecorder, TestPorter } from "@porter/testing"
import type { Options as ServerOptions } from "@porter/testkit/fly"
import { Effect, Layer, Redacted, Schema } from "effect"
import { flyLayer, LocalFly, serverLayer } from "./helpers.ts"

const ISSUE = "octo-org/hello-world#1"
const FLY_TOKEN = "fo1_local_machines_server_token_0001"
const ANTHROPIC_KEY = "sk-ant-test-0123456789abcdefghij"
const anthropic = { scope: SecretStore.scopes.global, name: "ANTHROPIC_API_KEY", value: ANTHROPIC_KEY }

/** Porter on in-memory services, except machines: Fly against a local machines server. */
const porterOnFly = (
  options: { porter?: TestPorter.Options; fly?: Partial<FlyMachines.FlyOptions>; server?: ServerOptions } = {}
) =>
  Porter.layer.pipe(
    // Later layers win: Fly's MachineProvisioner replaces the in-memory one.
    Layer.provideMerge(
      Layer.merge(TestPorter.services({ secrets: [anthropic], ...options.porter }), flyLayer(options.fly))
    ),
    Layer.provideMerge(serverLayer({ token: FLY_TOKEN, ...options.server }))
  )

const comment = (body = "@porter claude make the date parser accept ISO weeks") =>
  Effect.gen(function*() {
    const porter = yield* Porter.Porter
    const result = yield* porter.handle(Fixtures.commentCreated({ body }))
    assert.strictEqual(result._tag, "Accepted")
  })

/** The status comment as the user reads it now. */
const statusComment = Effect.gen(function*() {
  const comments = yield* (yield* GitHubRecorder).comments(ISSUE)
  assert.strictEqual(comments.length, 1, "one status comment, edited in place")
  return comments[0]!.body
})

const onlyTask = Effect.gen(function*() {
  const tasks = yield* (yield* TaskStore.TaskStore).listByIssue("octo-org/hello-world", 1, 10)
  assert.strictEqual(tasks.length, 1)
  return tasks[0]!
})

const taskOf = (id: Ids.TaskId) => Effect.flatMap(TaskStore.TaskStore, (store) => store.get(id))

const revoked = Redacted.make("fo1_revoked_token_00000000")

describe("Porter with Fly machines", () => {
  it.live(
    "happy path: the task's machine starts with the task's environment and is destroyed when it completes",
    () =>
      Effect.gen(function*() {
        const server = yield* LocalFly
        yield* comment()
        const task = yield* onlyTask
        assert.strictEqual(task.state, "provisioning")
        const machines = server.machines()
        assert.strictEqual(machines.length, 1, "the Fly provisioner, not the in-memory one, made the machine")
        const machine = machines[0]!
        assert.strictEqual(task.machineId, machine.id)
        assert.include(yield* statusComment, "Starting a machine for")
        // The machine environment of ARCHITECTURE.md, secrets included, only inside the machine.
        assert.strictEqual(machine.env["TASK_ID"], task.id)
        assert.strictEqual(machine.env["AGENT"], "claude")
        assert.strictEqual(machine.env["REPO_FULL_NAME"], "octo-org/hello-world")
        // No provider key: the model gateway's URL and the task's gateway credential (Porter attaches the key).
        assert.isUndefined(machine.env["ANTHROPIC_API_KEY"])
        assert.notInclude(JSON.stringify(machine.env), ANTHROPIC_KEY)
        assert.strictEqual(machine.env["MODEL_GATEWAY_URL"], `http://porter.test/gateway/tasks/${task.id}`)
        assert.isString(machine.env["GATEWAY_TOKEN"])
        assert.isUndefined(machine.env["GITHUB_TOKEN"], "no GitHub token on a machine")
        assert.isString(machine.env["CALLBACK_TOKEN"])
        assert.strictEqual(machine.metadata["porter"], "1")
        assert.strictEqual(machine.metadata["porter_task_id"], task.id)
        yield* Effect.promise(() => server.waitFor(machine.id, "started", 20_000))

        // Play the runner: it reports back, and Porter destroys the machine.
        const porter = yield* Porter.Porter
        const call = (body: unknown) => porter.callback(task.id, Schema.decodeUnknownSync(Callback.CallbackEvent)(body))
        yield* call({ type: "started" })
        assert.include(yield* statusComment, machine.id)
        yield* call({ type: "completed", outcome: "no_changes", summary: "Nothing to change." })
        assert.strictEqual((yield* taskOf(task.id)).state, "succeeded")
        yield* Effect.promise(() => server.waitFor(machine.id, "destroyed", 20_000))
        assert.include(yield* statusComment, "✅")
      }).pipe(Effect.provide(porterOnFly())),
    60_000
  )

  it.live("a bad token: the task fails and the issue says how to fix the token", () =>
    Effect.gen(function*() {
      const server = yield* LocalFly
      yield* comment()
      assert.strictEqual((yield* onlyTask).state, "failed")
      const text = yield* statusComment
      assert.include(text, "failed: could not start a machine: Fly rejected the API token (401")
      assert.include(text, "porter secrets set FLY_API_TOKEN")
      assert.notInclude(text, Redacted.value(revoked))
      assert.strictEqual(server.machines().length, 0)
    }).pipe(Effect.provide(porterOnFly({ fly: { token: revoked } }))), 30_000)

  it.live(
    "the user's own FLY_API_TOKEN from the SecretStore is used over the deploy-wide one",
    () =>
      Effect.gen(function*() {
        const server = yield* LocalFly
        yield* comment()
        const task = yield* onlyTask
        assert.strictEqual(task.state, "provisioning")
        assert.strictEqual(server.machines()[0]?.id, task.machineId)
      }).pipe(Effect.provide(porterOnFly({
        fly: { token: revoked },
        porter: {
          secrets: [anthropic, {
            scope: SecretStore.scopes.user(Fixtures.actor().id),
            name: "FLY_API_TOKEN",
            value: FLY_TOKEN
          }]
        }
      }))),
    30_000
  )

  it.live("a 429 burst: the machine starts after the waits Fly asked for", () =>
    Effect.gen(function*() {
      const server = yield* LocalFly
      server.faults.rateLimit({ count: 2, retryAfterSeconds: 1, op: "create" })
      yield* comment()
      const task = yield* onlyTask
      assert.strictEqual(task.state, "provisioning")
      assert.strictEqual(server.machines().length, 1)
      assert.strictEqual(task.machineId, server.machines()[0]!.id)
    }).pipe(Effect.provide(porterOnFly())), 30_000)

  it.live("500s: retried, one machine", () =>
    Effect.gen(function*() {
      const server = yield* LocalFly
      server.faults.serverError({ count: 2, op: "create" })
      server.faults.serverError({ count: 1, op: "list" })
      yield* comment()
      const task = yield* onlyTask
      assert.strictEqual(task.state, "provisioning")
      assert.deepStrictEqual(server.machines().map((m): string | undefined => m.id), [task.machineId])
    }).pipe(Effect.provide(porterOnFly())), 30_000)

  it.live(
    "a dropped create answer: the machine that was made is found, never a second one",
    () =>
      Effect.gen(function*() {
        const server = yield* LocalFly
        server.faults.dropCreateResponse()
        yield* comment()
        const task = yield* onlyTask
        assert.strictEqual(task.state, "provisioning")
        assert.deepStrictEqual(server.machines().map((m): string | undefined => m.id), [task.machineId])
        assert.strictEqual(server.requests().filter((r) => r.op === "create").length, 1)
      }).pipe(Effect.provide(porterOnFly())),
    30_000
  )

  it.live("slow answers: timed out, retried, one machine", () =>
    Effect.gen(function*() {
      const server = yield* LocalFly
      server.faults.slow({ delayMs: 5_000, op: "create" })
      yield* comment()
      const task = yield* onlyTask
      assert.strictEqual(task.state, "provisioning")
      assert.deepStrictEqual(server.machines().map((m): string | undefined => m.id), [task.machineId])
    }).pipe(Effect.provide(porterOnFly({ fly: { requestTimeoutMs: 500 } }))), 30_000)

  it.live(
    "Fly keeps failing: the sweep tries again, then the task fails and the issue says so",
    () =>
      Effect.gen(function*() {
        const server = yield* LocalFly
        const porter = yield* Porter.Porter
        server.faults.serverError({ count: 1_000, status: 503, op: "create" })
        yield* comment()
        // An outage is transient: the task waits for the sweep instead of failing at once.
        assert.strictEqual((yield* onlyTask).state, "provisioning")
        const report = yield* porter.sweep
        assert.strictEqual(report.redispatched, 1)
        assert.strictEqual((yield* onlyTask).state, "failed")
        const text = yield* statusComment
        assert.include(text, "failed: could not start a machine: the Fly Machines API failed (503")
        assert.include(text, "@porter retry")
        assert.strictEqual(server.machines().length, 0)
      }).pipe(Effect.provide(porterOnFly({ porter: { config: { dispatchTimeoutMs: 0, maxDispatchAttempts: 2 } } }))),
    30_000
  )

  it.live(
    "a machine that failed to launch is replaced by the sweep, not dispatched to again",
    () =>
      Effect.gen(function*() {
        const server = yield* LocalFly
        const porter = yield* Porter.Porter
        server.faults.failLaunch()
        yield* comment()
        const first = yield* onlyTask
        yield* Effect.promise(() => server.waitFor(first.machineId!, "failed", 20_000))

        const report = yield* porter.sweep
        assert.strictEqual(report.redispatched, 1)
        const second = yield* onlyTask
        assert.strictEqual(second.state, "provisioning")
        assert.notStrictEqual(second.machineId, first.machineId, "a new machine, not the failed one")
        yield* Effect.promise(() => server.waitFor(second.machineId!, "started", 20_000))
      }).pipe(Effect.provide(porterOnFly({ porter: { config: { dispatchTimeoutMs: 0, maxDispatchAttempts: 3 } } }))),
    60_000
  )

  it.live(
    "a machine that dies is replaced by the sweep, then the task fails when attempts run out",
    () =>
      Effect.gen(function*() {
        const server = yield* LocalFly
        const porter = yield* Porter.Porter
        yield* comment()
        const first = yield* onlyTask
        yield* Effect.promise(() => server.waitFor(first.machineId!, "started", 20_000))
        yield* Effect.promise(() => server.faults.kill(first.machineId!))
        yield* Effect.promise(() => server.waitFor(first.machineId!, "destroyed", 20_000))

        // The sweep finds the provisioning task's machine gone and dispatches again: a new machine.
        const report = yield* porter.sweep
        assert.strictEqual(report.redispatched, 1)
        const second = yield* onlyTask
        assert.notStrictEqual(second.machineId, first.machineId)
        assert.strictEqual(server.machines().length, 2)
        yield* Effect.promise(() => server.waitFor(second.machineId!, "started", 20_000))

        // It dies too; no attempts are left, and the issue is told.
        yield* Effect.promise(() => server.faults.kill(second.machineId!))
        yield* Effect.promise(() => server.waitFor(second.machineId!, "destroyed", 20_000))
        const last = yield* porter.sweep
        assert.strictEqual(last.failed, 1)
        assert.strictEqual((yield* onlyTask).state, "failed")
        assert.include(yield* statusComment, "no machine could be started after 2 attempts")
      }).pipe(Effect.provide(porterOnFly({ porter: { config: { dispatchTimeoutMs: 0, maxDispatchAttempts: 2 } } }))),
    60_000
  )
})

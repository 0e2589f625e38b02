/**
 * TaskLifecycle: the runner's callbacks (started, heartbeat, completed) as the task, the issue and the machines show
 * them; endings (`finish`, `cancelTask`, `cancelIssue` with a filter), each destroying the machine and saying so in
 * the audit trail; a terminal task never changes again; `view` shows no log tail.
 */
import { assert, describe, it } from "@effect/vitest"
import { Command, Dispatcher, type Ids, Repo, TaskLifecycle, TaskStore } from "@porter/core"
import { Fixtures, Machines } from "@porter/testing"
import { Effect, Option } from "effect"
import { TestClock } from "effect/testing"
import {
  auditKinds,
  callbackEvent,
  layer,
  publish,
  runRequest,
  START,
  storedTask,
  taskOf,
  tasksOf,
  thread
} from "./support/Lifecycle.ts"

/** Starts a task through the Dispatcher (one machine, one status comment); returns its id and machine. */
const started = (options: { readonly issueNumber?: number; readonly agent?: string } = {}) =>
  Effect.gen(function*() {
    const event = Fixtures.commentCreated({ body: "@porter claude fix it", issueNumber: options.issueNumber ?? 1 })
    yield* (yield* Dispatcher.Dispatcher).start(
      yield* runRequest({ event, run: new Command.Run({ agent: options.agent ?? "claude", instructions: "fix it" }) })
    )
    const created = yield* (yield* Machines).created
    const latest = created[created.length - 1]!
    return { taskId: latest.spec.taskId, machineId: latest.machine.id }
  })

const call = (taskId: Ids.TaskId, body: unknown) =>
  Effect.flatMap(TaskLifecycle.TaskLifecycle, (lifecycle) => lifecycle.callback(taskId, callbackEvent(body)))

/** The detail of the first line of `kind` in the task's audit trail. */
const auditDetail = (taskId: Ids.TaskId, kind: string) =>
  Effect.map(
    Effect.flatMap(TaskStore.TaskStore, (store) => store.events(taskId)),
    (events) => events.find((e) => e.kind === kind)?.detail
  )

const statusBody = Effect.map(thread(), (comments) => comments[0]!.body)
const versionCount = Effect.map(thread(), (comments) => comments[0]!.versions.length)

describe("TaskLifecycle.callback", () => {
  it.effect("started: the task runs and the status comment says so", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(START)
      const { machineId, taskId } = yield* started()
      yield* TestClock.adjust("20 seconds")
      assert.deepStrictEqual(yield* call(taskId, { type: "started", step: "clone" }), {
        accepted: true,
        state: "running"
      })
      const task = yield* taskOf(taskId)
      assert.strictEqual(task.state, "running")
      assert.strictEqual(task.startedAt, START + 20_000)
      assert.strictEqual(task.heartbeatAt, START + 20_000)
      const body = yield* statusBody
      assert.include(body, "🏃")
      assert.include(body, machineId)
      assert.include(yield* auditKinds(taskId), "callback")
    }).pipe(Effect.provide(layer())))

  it.effect("heartbeat: heartbeatAt moves on; the status comment is not rewritten", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(START)
      const { taskId } = yield* started()
      yield* call(taskId, { type: "started" })
      const versions = yield* versionCount
      yield* TestClock.adjust("30 seconds")
      assert.deepStrictEqual(yield* call(taskId, { type: "heartbeat", step: "agent" }), {
        accepted: true,
        state: "running"
      })
      assert.strictEqual((yield* taskOf(taskId)).heartbeatAt, START + 30_000)
      yield* TestClock.adjust("30 seconds")
      yield* call(taskId, { type: "heartbeat" })
      const task = yield* taskOf(taskId)
      assert.strictEqual(task.heartbeatAt, START + 60_000)
      assert.strictEqual(task.startedAt, START, "a heartbeat is not a start")
      assert.strictEqual(yield* versionCount, versions)
    }).pipe(Effect.provide(layer())))

  it.effect("completed, pushed: succeeded with the PR, shown on the issue; the machine is destroyed", () =>
    Effect.gen(function*() {
      const { machineId, taskId } = yield* started()
      yield* call(taskId, { type: "started" })
      const published = yield* publish(taskId)
      const answer = yield* call(taskId, {
        type: "completed",
        outcome: "pushed",
        // A machine's word about the branch and pull request is not taken (an old runner still sends them).
        branch: "main",
        prUrl: "https://evil.example/pull/1",
        summary: "Accepts ISO week dates."
      })
      assert.deepStrictEqual(answer, { accepted: true, state: "succeeded" })
      const task = yield* taskOf(taskId)
      assert.strictEqual(task.state, "succeeded")
      assert.strictEqual(task.outcome, "pushed")
      assert.strictEqual(task.prUrl, "https://github.com/octo-org/hello-world/pull/1")
      assert.strictEqual(task.branch, published.branch)
      assert.strictEqual(task.commitSha, published.commits[0])
      assert.isUndefined(task.reason)
      const body = yield* statusBody
      assert.include(body, "✅")
      assert.include(body, "**Pull request:** https://github.com/octo-org/hello-world/pull/1")
      assert.include(body, "> Accepts ISO week dates.")
      assert.deepStrictEqual(yield* (yield* Machines).live, [])
      assert.strictEqual(yield* auditDetail(taskId, "machine_destroyed"), machineId)
    }).pipe(Effect.provide(layer())))

  it.effect("completed, no_changes: succeeded without a pull request", () =>
    Effect.gen(function*() {
      const { taskId } = yield* started()
      assert.deepStrictEqual(yield* call(taskId, { type: "completed", outcome: "no_changes" }), {
        accepted: true,
        state: "succeeded"
      })
      assert.include(yield* statusBody, "without changing anything, so there is no pull request")
    }).pipe(Effect.provide(layer())))

  it.effect("completed, agent_failed: failed with the reason and the log tail shown", () =>
    Effect.gen(function*() {
      const { taskId } = yield* started()
      yield* call(taskId, { type: "started" })
      const answer = yield* call(taskId, {
        type: "completed",
        outcome: "agent_failed",
        error: "claude exited with code 1",
        logTail: "Cloning…\nRunning claude\nError: model overloaded"
      })
      assert.deepStrictEqual(answer, { accepted: true, state: "failed" })
      const task = yield* taskOf(taskId)
      assert.strictEqual(task.state, "failed")
      assert.strictEqual(task.reason, "the agent exited with an error (claude exited with code 1)")
      const body = yield* statusBody
      assert.include(body, "❌ `claude` failed: the agent exited with an error (claude exited with code 1)")
      assert.include(body, "<summary>Last lines of output</summary>")
      assert.include(body, "Error: model overloaded")
      assert.deepStrictEqual(yield* (yield* Machines).live, [])
    }).pipe(Effect.provide(layer())))

  it.effect("completed, error: failed with the runner's words", () =>
    Effect.gen(function*() {
      const { taskId } = yield* started()
      yield* call(taskId, { type: "completed", outcome: "error", error: "git clone failed: repository not found" })
      assert.strictEqual((yield* taskOf(taskId)).reason, "git clone failed: repository not found")
    }).pipe(Effect.provide(layer())))

  it.effect("a callback for a terminal task: accepted false, and nothing changes", () =>
    Effect.gen(function*() {
      const { taskId } = yield* started()
      yield* call(taskId, { type: "started" })
      yield* (yield* TaskLifecycle.TaskLifecycle).cancelTask(taskId, "cancelled by @octocat")
      const before = yield* taskOf(taskId)
      const comments = yield* thread()
      yield* TestClock.adjust("1 minute")
      for (
        const body of [
          { type: "heartbeat" },
          { type: "started" },
          { type: "completed", outcome: "pushed", prUrl: "https://github.com/octo-org/hello-world/pull/9" }
        ]
      ) {
        assert.deepStrictEqual(yield* call(taskId, body), {
          accepted: false,
          state: "cancelled",
          message: "task is already cancelled"
        })
      }
      assert.deepStrictEqual(yield* taskOf(taskId), before)
      assert.deepStrictEqual(yield* thread(), comments)
      assert.strictEqual((yield* (yield* Machines).created).length, 1, "no machine made or kept")
      assert.deepStrictEqual(yield* (yield* Machines).live, [])
    }).pipe(Effect.provide(layer())))

  it.effect("a callback for an unknown task fails with TaskNotFound", () =>
    Effect.gen(function*() {
      const task = yield* storedTask()
      const unknown = `${task.id.slice(0, -1)}${task.id.endsWith("0") ? "1" : "0"}` as Ids.TaskId
      const error = yield* Effect.flip(call(unknown, { type: "heartbeat" }))
      assert.strictEqual(error._tag, "TaskNotFound")
    }).pipe(Effect.provide(layer())))
})

describe("TaskLifecycle endings", () => {
  it.effect("finish: ends the task once, shows it, destroys its machine and audits that", () =>
    Effect.gen(function*() {
      const lifecycle = yield* TaskLifecycle.TaskLifecycle
      const { machineId, taskId } = yield* started()
      assert.strictEqual((yield* (yield* Machines).live).length, 1)
      const ended = yield* lifecycle.finish(yield* taskOf(taskId), "timed_out", { reason: "the time limit ran out" })
      assert.strictEqual(Option.getOrThrow(ended).state, "timed_out")
      assert.deepStrictEqual(yield* (yield* Machines).live, [])
      assert.strictEqual(yield* auditDetail(taskId, "machine_destroyed"), machineId)
      assert.include(yield* statusBody, "⏱")
      // A second ending does nothing.
      const again = yield* lifecycle.finish(yield* taskOf(taskId), "failed", { reason: "late" })
      assert.isTrue(Option.isNone(again))
      assert.strictEqual((yield* taskOf(taskId)).state, "timed_out")
    }).pipe(Effect.provide(layer())))

  it.effect("cancelTask: true once, then false", () =>
    Effect.gen(function*() {
      const lifecycle = yield* TaskLifecycle.TaskLifecycle
      const { taskId } = yield* started()
      assert.isTrue(yield* lifecycle.cancelTask(taskId, "cancelled by an admin"))
      assert.isFalse(yield* lifecycle.cancelTask(taskId, "cancelled by an admin"))
      const task = yield* taskOf(taskId)
      assert.strictEqual(task.state, "cancelled")
      assert.strictEqual(task.reason, "cancelled by an admin")
      assert.deepStrictEqual(yield* (yield* Machines).live, [])
    }).pipe(Effect.provide(layer())))

  it.effect("cancelIssue with a filter cancels only the matching tasks of that issue", () =>
    Effect.gen(function*() {
      const lifecycle = yield* TaskLifecycle.TaskLifecycle
      const claude = yield* started({ agent: "claude" })
      // The issue's second task waits in the queue for the first (a follow-up never races the run before it).
      yield* started({ agent: "script" })
      const [script] = (yield* tasksOf()).filter((t) => t.agent === "script")
      assert.strictEqual(script!.state, "queued")
      const elsewhere = yield* started({ agent: "claude", issueNumber: 2 })
      const issue = new Repo.IssueRef({ repo: Fixtures.repo(), number: 1 })
      const count = yield* lifecycle.cancelIssue(issue, "superseded", (task) => task.agent === "claude")
      assert.strictEqual(count, 1)
      assert.strictEqual((yield* taskOf(claude.taskId)).state, "cancelled")
      // The slot the cancelled task held went to the task waiting on the issue.
      const next = yield* taskOf(script!.id)
      assert.strictEqual(next.state, "provisioning")
      assert.strictEqual((yield* taskOf(elsewhere.taskId)).state, "provisioning")
      assert.deepStrictEqual(
        (yield* (yield* Machines).live).map((m) => m.id).sort(),
        [next.machineId!, elsewhere.machineId].sort()
      )
      // Without a filter: the rest of the issue.
      assert.strictEqual(yield* lifecycle.cancelIssue(issue, "the issue was closed"), 1)
      assert.deepStrictEqual((yield* tasksOf()).map((t) => t.state), ["cancelled", "cancelled"])
      assert.strictEqual((yield* taskOf(elsewhere.taskId)).state, "provisioning")
    }).pipe(Effect.provide(layer())))

  it.effect("a task that has not started (queued) takes no callback: none changes it", () =>
    Effect.gen(function*() {
      yield* started()
      // The issue's second task waits in the queue for the first: no machine was asked for it.
      yield* started({ agent: "script" })
      const [queued] = (yield* tasksOf()).filter((t) => t.agent === "script")
      assert.strictEqual(queued!.state, "queued")
      for (
        const body of [
          { type: "started" },
          { type: "heartbeat" },
          { type: "completed", outcome: "no_changes" },
          { type: "completed", outcome: "error", error: "boom" }
        ]
      ) {
        assert.deepStrictEqual(yield* call(queued!.id, body), {
          accepted: false,
          state: "queued",
          message: "task has not started (queued): it has no machine"
        })
      }
      const after = yield* taskOf(queued!.id)
      assert.strictEqual(after.state, "queued")
      assert.deepStrictEqual(after, queued)
      // Each call is in the audit trail all the same.
      const callbacks = (yield* auditKinds(queued!.id)).filter((kind) => kind === "callback")
      assert.strictEqual(callbacks.length, 4)
    }).pipe(Effect.provide(layer())))

  it.effect("view: the task as the API shows it, without its log tail", () =>
    Effect.gen(function*() {
      const lifecycle = yield* TaskLifecycle.TaskLifecycle
      const { taskId } = yield* started()
      yield* call(taskId, {
        type: "completed",
        outcome: "agent_failed",
        error: "exit 1",
        logTail: "secret-looking output"
      })
      assert.strictEqual((yield* taskOf(taskId)).logTail, "secret-looking output")
      const view = yield* lifecycle.view(taskId)
      assert.strictEqual(view.id, taskId)
      assert.strictEqual(view.state, "failed")
      assert.isFalse("logTail" in view)
      assert.notInclude(JSON.stringify(view), "secret-looking output")
    }).pipe(Effect.provide(layer())))
})

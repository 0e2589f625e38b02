/**
 * The TaskStore contract, a task's life: legal transitions only (a terminal task stays terminal, one racer wins),
 * updates in the allowed states, dispatch attempts as compare-and-set, and the audit trail the store writes.
 */
import { assert } from "@effect/vitest"
import { Ids, Task, TaskStore } from "@porter/core"
import { Effect, Exit, Option } from "effect"
import { sampleTask, type TaskStoreIt } from "./TaskStoreFixtures.ts"

const store = TaskStore.TaskStore

/** Registers the lifecycle tests of the `TaskStore` contract with `it`. */
export const register = (it: TaskStoreIt) => {
  it.effect("writes the audit lines of creation, dispatch attempts and machines itself", () =>
    Effect.gen(function*() {
      const s = yield* store
      const task = yield* sampleTask()
      yield* s.create(task)
      yield* s.beginDispatch(task.id, 0, 2_000)
      yield* s.update(task.id, { machineId: "m_audit" as Ids.MachineId }, 2_100)
      yield* s.update(task.id, { machineId: "m_audit" as Ids.MachineId, heartbeatAt: 2_200 }, 2_200)
      const events = yield* s.events(task.id)
      const created = events.find((e) => e.kind === "created")
      assert.strictEqual(created?.detail, `claude for @octocat (delivery ${task.deliveryId})`)
      const first = events.find((e) => e.kind === "transition")
      assert.deepStrictEqual([first?.from, first?.to], [undefined, "queued"])
      assert.deepStrictEqual(events.filter((e) => e.kind === "dispatch").map((e) => e.detail), ["attempt 1"])
      assert.deepStrictEqual(events.filter((e) => e.kind === "machine").map((e) => e.detail), ["m_audit"])
      assert.deepStrictEqual(
        events.filter((e) => e.kind === "transition").map((e) => `${e.from ?? "·"}>${e.to}`),
        ["·>queued", "queued>provisioning"]
      )
    }))

  it.effect("walks the happy path and records each transition", () =>
    Effect.gen(function*() {
      const s = yield* store
      const task = yield* sampleTask()
      yield* s.create(task)
      yield* s.transition(task.id, "provisioning", 2_000)
      const running = yield* s.transition(task.id, "running", 3_000, { heartbeatAt: 3_000 })
      assert.strictEqual(running.state, "running")
      assert.strictEqual(running.startedAt, 3_000)
      const done = yield* s.transition(task.id, "succeeded", 4_000, {
        outcome: "pushed",
        prUrl: "https://example.test/pr/1",
        branch: "porter/7-abc",
        commitSha: "0123456789abcdef0123456789abcdef01234567",
        summary: "Accepts ISO weeks now.",
        usage: new Task.Usage({ inputTokens: 1200, outputTokens: 300, costUsd: 0.0123 })
      })
      assert.strictEqual(done.state, "succeeded")
      assert.strictEqual(done.finishedAt, 4_000)
      const back = yield* s.get(task.id)
      assert.deepStrictEqual(back, done)
      const events = yield* s.events(task.id)
      const moves = events.filter((e) => e.kind === "transition" && e.from !== undefined).map((e) =>
        `${e.from}>${e.to}`
      )
      assert.deepStrictEqual(moves, ["queued>provisioning", "provisioning>running", "running>succeeded"])
    }))

  it.effect("an illegal move fails with IllegalTransition and changes nothing", () =>
    Effect.gen(function*() {
      const s = yield* store
      const task = yield* sampleTask()
      yield* s.create(task)
      const error = yield* Effect.flip(s.transition(task.id, "running", 2_000))
      assert.strictEqual(error._tag, "IllegalTransition")
      if (error._tag === "IllegalTransition") assert.strictEqual(error.from, "queued")
      assert.strictEqual((yield* s.get(task.id)).state, "queued")
    }))

  it.effect("a terminal task stays terminal under a burst of late writes", () =>
    Effect.gen(function*() {
      const s = yield* store
      const task = yield* sampleTask({ state: "running", startedAt: 1_500 })
      yield* s.create(task)
      yield* s.transition(task.id, "timed_out", 2_000, { reason: "deadline" })
      const targets = ["succeeded", "failed", "cancelled", "running", "provisioning", "timed_out"] as const
      const exits = yield* Effect.all(
        Array.from(
          { length: 60 },
          (_, i) => Effect.exit(s.transition(task.id, targets[i % targets.length]!, 3_000 + i))
        ),
        { concurrency: "unbounded" }
      )
      assert.isTrue(exits.every(Exit.isFailure))
      const updates = yield* Effect.all(
        Array.from({ length: 10 }, () => Effect.exit(s.update(task.id, { heartbeatAt: 9_999 }, 9_999))),
        { concurrency: "unbounded" }
      )
      assert.isTrue(updates.every(Exit.isFailure))
      const back = yield* s.get(task.id)
      assert.strictEqual(back.state, "timed_out")
      assert.strictEqual(back.reason, "deadline")
      assert.notStrictEqual(back.heartbeatAt, 9_999)
    }))

  it.effect("racing terminal transitions: exactly one wins", () =>
    Effect.gen(function*() {
      const s = yield* store
      const task = yield* sampleTask({ state: "running", startedAt: 1_500 })
      yield* s.create(task)
      const targets = ["succeeded", "failed", "timed_out", "cancelled"] as const
      const exits = yield* Effect.all(
        Array.from({ length: 20 }, (_, i) => Effect.exit(s.transition(task.id, targets[i % 4]!, 5_000))),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(exits.filter(Exit.isSuccess).length, 1)
    }))

  it.effect("update sets fields only in the allowed states", () =>
    Effect.gen(function*() {
      const s = yield* store
      const task = yield* sampleTask()
      yield* s.create(task)
      const updated = yield* s.update(task.id, { statusCommentId: 77, machineId: "m_1" as Ids.MachineId }, 1_500)
      assert.strictEqual(updated.statusCommentId, 77)
      assert.strictEqual(updated.machineId, "m_1")
      assert.strictEqual(updated.updatedAt, 1_500)
      assert.strictEqual((yield* s.get(task.id)).statusCommentId, 77)
      const refused = yield* Effect.flip(s.update(task.id, { heartbeatAt: 1 }, 1_600, ["running"]))
      assert.strictEqual(refused._tag, "IllegalTransition")
      yield* s.transition(task.id, "cancelled", 2_000)
      const late = yield* s.update(task.id, { statusCommentId: 78 }, 2_100, ["cancelled"])
      assert.strictEqual(late.statusCommentId, 78)
      assert.strictEqual(late.state, "cancelled")
    }))

  it.effect("beginDispatch is compare-and-set: one of ten racers wins", () =>
    Effect.gen(function*() {
      const s = yield* store
      const task = yield* sampleTask()
      yield* s.create(task)
      const results = yield* Effect.all(
        Array.from({ length: 10 }, () => s.beginDispatch(task.id, 0, 2_000)),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(results.filter(Option.isSome).length, 1)
      assert.strictEqual((yield* s.get(task.id)).dispatchAttempts, 1)
      assert.strictEqual((yield* s.get(task.id)).state, "provisioning")
      assert.isTrue(Option.isNone(yield* s.beginDispatch(task.id, 0, 2_100)))
      assert.isTrue(Option.isSome(yield* s.beginDispatch(task.id, 1, 2_200)))
      yield* s.transition(task.id, "failed", 2_300)
      assert.isTrue(Option.isNone(yield* s.beginDispatch(task.id, 2, 2_400)))
    }))

  it.effect("keeps an append-only audit trail in order", () =>
    Effect.gen(function*() {
      const s = yield* store
      const task = yield* sampleTask()
      yield* s.create(task)
      yield* s.appendEvent(
        new TaskStore.TaskEvent({ taskId: task.id, at: 1_100, kind: "report", detail: "status comment" })
      )
      yield* s.transition(task.id, "cancelled", 1_200, { reason: "cancelled by @octocat" })
      yield* s.appendEvent(
        new TaskStore.TaskEvent({ taskId: task.id, at: 1_300, kind: "machine_destroyed", detail: "m_1" })
      )
      const events = yield* s.events(task.id)
      const kinds = events.map((e) => e.kind)
      assert.include(kinds, "report")
      assert.include(kinds, "machine_destroyed")
      assert.isTrue(kinds.indexOf("report") < kinds.indexOf("machine_destroyed"))
      for (let i = 1; i < events.length; i++) assert.isTrue(events[i - 1]!.at <= events[i]!.at)
    }))
}

/**
 * The TaskStore contract, reading many tasks: counts and lists by repository, issue, user and state, and what the
 * watchdog sweeps (due tasks, claimed by one of racing sweepers).
 */
import { assert } from "@effect/vitest"
import { Repo, Task, TaskStore } from "@porter/core"
import { Effect, Option } from "effect"
import { nextSerial, sampleTask, type TaskStoreIt, uniqueRepo } from "./TaskStoreFixtures.ts"

const store = TaskStore.TaskStore

/** Registers the listing tests of the `TaskStore` contract with `it`. */
export const register = (it: TaskStoreIt) => {
  it.effect("counts and lists active tasks by repository, issue and user", () =>
    Effect.gen(function*() {
      const s = yield* store
      const repo = uniqueRepo()
      const other = new Repo.Actor({ login: "hubot", id: 99_000_000 + nextSerial(), type: "User" })
      const a = yield* sampleTask({ repo, issueNumber: 1 })
      const b = yield* sampleTask({ repo, issueNumber: 1, requestedBy: other })
      const c = yield* sampleTask({ repo, issueNumber: 2, requestedBy: other })
      const d = yield* sampleTask({ repo, issueNumber: 1 })
      for (const t of [a, b, c, d]) yield* s.create(t)
      yield* s.transition(d.id, "cancelled", 2_000)
      assert.strictEqual(yield* s.countActive({ repo: repo.fullName }), 3)
      assert.strictEqual(yield* s.countActive({ repo: repo.fullName, issueNumber: 1 }), 2)
      assert.strictEqual(yield* s.countActive({ userId: other.id }), 2)
      const active = yield* s.listActive({ repo: repo.fullName, issueNumber: 1 })
      assert.deepStrictEqual(active.map((t) => t.id).sort(), [a.id, b.id].sort())
      const byIssue = yield* s.listByIssue(repo.fullName, 1, 10)
      assert.strictEqual(byIssue.length, 3)
      assert.isTrue(byIssue[0]!.id >= byIssue[1]!.id && byIssue[1]!.id >= byIssue[2]!.id, "newest first")
      assert.strictEqual((yield* s.listByIssue(repo.fullName, 1, 1)).length, 1)
    }))

  it.effect("lists tasks newest first with state filter and pagination", () =>
    Effect.gen(function*() {
      const s = yield* store
      const repo = uniqueRepo()
      const tasks = []
      for (let i = 0; i < 5; i++) {
        const t = yield* sampleTask({ repo })
        yield* s.create(t)
        tasks.push(t)
        yield* Effect.sleep(2)
      }
      yield* s.transition(tasks[4]!.id, "failed", 3_000)
      const page = yield* s.list({ repo: repo.fullName, limit: 2 })
      assert.deepStrictEqual(page.map((t) => t.id), [tasks[4]!.id, tasks[3]!.id])
      const next = yield* s.list({ repo: repo.fullName, limit: 10, before: page[1]!.id })
      assert.deepStrictEqual(next.map((t) => t.id), [tasks[2]!.id, tasks[1]!.id, tasks[0]!.id])
      const failed = yield* s.list({ repo: repo.fullName, state: "failed", limit: 10 })
      assert.deepStrictEqual(failed.map((t) => t.id), [tasks[4]!.id])
    }))

  it.effect("listDue finds passed deadlines, missing heartbeats and stuck dispatches only", () =>
    Effect.gen(function*() {
      const s = yield* store
      const now = 10_000_000
      const options = { heartbeatTimeoutMs: 60_000, dispatchTimeoutMs: 30_000, limit: 10_000 }
      const overdue = yield* sampleTask({
        state: "running",
        startedAt: now - 1000,
        heartbeatAt: now - 1000,
        updatedAt: now - 1000,
        deadlineAt: now - 1
      })
      const silent = yield* sampleTask({
        state: "running",
        startedAt: now - 200_000,
        heartbeatAt: now - 90_000,
        updatedAt: now - 90_000,
        deadlineAt: now + 1e6
      })
      const stuck = yield* sampleTask({ state: "provisioning", updatedAt: now - 40_000, deadlineAt: now + 1e6 })
      // Waiting for a slot, or for approval, is not a stuck dispatch (only a passed deadline makes them due).
      const waiting = yield* sampleTask({ state: "queued", updatedAt: now - 40_000, deadlineAt: now + 1e6 })
      const awaiting = yield* sampleTask({
        state: "awaiting_approval",
        updatedAt: now - 40_000,
        deadlineAt: now + 1e6
      })
      const expired = yield* sampleTask({ state: "awaiting_approval", updatedAt: now - 1e6, deadlineAt: now - 1 })
      const healthy = yield* sampleTask({
        state: "running",
        startedAt: now - 10_000,
        heartbeatAt: now - 5_000,
        updatedAt: now - 5_000,
        deadlineAt: now + 1e6
      })
      const fresh = yield* sampleTask({ state: "provisioning", updatedAt: now - 1_000, deadlineAt: now + 1e6 })
      const ended = yield* sampleTask({ state: "failed", updatedAt: now - 1e6, deadlineAt: now - 1e6 })
      for (const t of [overdue, silent, stuck, healthy, fresh, ended, waiting, awaiting, expired]) {
        yield* s.create(t)
      }
      const due = new Set((yield* s.listDue(now, options)).map((t) => t.id))
      assert.isTrue(due.has(overdue.id), "deadline passed")
      assert.isTrue(due.has(silent.id), "heartbeat missing")
      assert.isTrue(due.has(stuck.id), "dispatch stuck")
      assert.isFalse(due.has(healthy.id), "healthy")
      assert.isFalse(due.has(fresh.id), "fresh")
      assert.isFalse(due.has(ended.id), "terminal")
      assert.isFalse(due.has(waiting.id), "queued, waiting for a slot")
      assert.isFalse(due.has(awaiting.id), "awaiting approval")
      assert.isTrue(due.has(expired.id), "awaiting approval past its deadline")
    }))

  it.effect("claimDue is compare-and-set on the task as listed: one of ten racing sweepers takes it", () =>
    Effect.gen(function*() {
      const s = yield* store
      const task = yield* sampleTask({ state: "queued", updatedAt: 1_000, deadlineAt: 1e9 })
      yield* s.create(task)
      const claims = yield* Effect.all(
        Array.from({ length: 10 }, () => s.claimDue(task, 50_000)),
        { concurrency: "unbounded" }
      )
      const won = claims.filter(Option.isSome)
      assert.strictEqual(won.length, 1)
      assert.strictEqual(won[0]!.value.updatedAt, 50_000)
      assert.strictEqual(won[0]!.value.state, "queued")
      assert.strictEqual((yield* s.get(task.id)).updatedAt, 50_000)
      assert.isTrue(Option.isNone(yield* s.claimDue(task, 60_000)), "the listing is stale")
      const fresh = yield* s.get(task.id)
      assert.isTrue(Option.isSome(yield* s.claimDue(fresh, 70_000)))
      const now = yield* s.get(task.id)
      const otherAttempt = new Task.Task({ ...now, dispatchAttempts: now.dispatchAttempts + 1 })
      assert.isTrue(Option.isNone(yield* s.claimDue(otherAttempt, 90_000)), "a dispatch attempt began meanwhile")
      const ended = yield* s.transition(task.id, "failed", 95_000, { reason: "gave up" })
      assert.isTrue(Option.isNone(yield* s.claimDue(ended, 99_000)), "an ended task is never due")
    }))
}

/**
 * The TaskStore contract, creating and reading tasks: every field stored as given, one task per id and per request
 * key, the per-repository and per-user limits held under racing creates, unknown ids reported as such.
 */
import { assert } from "@effect/vitest"
import { Ids, Repo, Task, TaskStore } from "@porter/core"
import { Effect, Option } from "effect"
import { nextSerial, sampleTask, type TaskStoreIt, uniqueRepo } from "./TaskStoreFixtures.ts"

const store = TaskStore.TaskStore

/** Registers the creation tests of the `TaskStore` contract with `it`. */
export const register = (it: TaskStoreIt) => {
  it.effect("stores and reads back every field", () =>
    Effect.gen(function*() {
      const s = yield* store
      const task = yield* sampleTask({
        model: "opus",
        installationId: 99,
        baseBranch: "main",
        headBranch: "feature/x",
        isPullRequest: true,
        triggerKind: "review_comment"
      })
      assert.strictEqual((yield* s.create(task))._tag, "Created")
      const back = yield* s.get(task.id)
      assert.deepStrictEqual(back, task)
      assert.isTrue(Option.isSome(yield* s.find(task.id)))
    }))

  it.effect("a second task with the same id is not created: the stored one comes back", () =>
    Effect.gen(function*() {
      const s = yield* store
      const task = yield* sampleTask()
      yield* s.create(task)
      yield* s.update(task.id, { statusCommentId: 5 }, 1_100)
      const again = yield* s.create(new Task.Task({ ...task, instructions: "something else" }))
      assert.strictEqual(again._tag, "Exists")
      if (again._tag === "Exists") {
        assert.strictEqual(again.task.instructions, task.instructions)
        assert.strictEqual(again.task.statusCommentId, 5)
      }
    }))

  it.effect("limits hold atomically: of 12 racing creates under a limit of 3, exactly 3 are made", () =>
    Effect.gen(function*() {
      const s = yield* store
      const repo = uniqueRepo()
      const tasks = yield* Effect.forEach(Array.from({ length: 12 }), () => sampleTask({ repo }))
      const results = yield* Effect.all(
        tasks.map((task) => s.create(task, { perRepository: 3, perUser: 100 })),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(results.filter((r) => r._tag === "Created").length, 3)
      const refused = results.find((r) => r._tag === "OverLimit")
      assert.deepStrictEqual(refused, { _tag: "OverLimit", scope: "repository", limit: 3 })
      assert.strictEqual(yield* s.countActive({ repo: repo.fullName }), 3)
    }))

  it.effect("the per-user limit counts the requester's active tasks in every repository; ended ones free a slot", () =>
    Effect.gen(function*() {
      const s = yield* store
      const requestedBy = new Repo.Actor({ login: "limited", id: 77_000_000 + nextSerial(), type: "User" })
      const first = yield* sampleTask({ requestedBy })
      const second = yield* sampleTask({ requestedBy })
      const limits = { perRepository: 10, perUser: 1 }
      assert.strictEqual((yield* s.create(first, limits))._tag, "Created")
      assert.deepStrictEqual(yield* s.create(second, limits), { _tag: "OverLimit", scope: "user", limit: 1 })
      yield* s.transition(first.id, "cancelled", 2_000)
      assert.strictEqual((yield* s.create(second, limits))._tag, "Created")
    }))

  it.effect("one task per request key: a second task with another id and the same key is not created", () =>
    Effect.gen(function*() {
      const s = yield* store
      const requestKey = `comment:issue_comment:${Date.now()}${nextSerial()}`
      const first = yield* sampleTask({ requestKey })
      const second = yield* sampleTask({ requestKey, repo: first.repo })
      assert.strictEqual((yield* s.create(first))._tag, "Created")
      const again = yield* s.create(second)
      assert.strictEqual(again._tag, "Exists")
      if (again._tag === "Exists") assert.strictEqual(again.task.id, first.id)
      assert.isTrue(Option.isNone(yield* s.find(second.id)))
      // Racing creates of one request: one task.
      const key = `${requestKey}-race`
      const racers = yield* Effect.forEach(Array.from({ length: 10 }), () => sampleTask({ requestKey: key }))
      const results = yield* Effect.all(racers.map((t) => s.create(t)), { concurrency: "unbounded" })
      assert.strictEqual(results.filter((r) => r._tag === "Created").length, 1)
      const ids = new Set(results.map((r) => (r._tag === "OverLimit" ? "" : r.task.id)))
      assert.strictEqual(ids.size, 1, "every racer got the one task")
    }))

  it.effect("stores a fix_ci task (CI feedback's mode) as it is", () =>
    Effect.gen(function*() {
      const s = yield* store
      const task = yield* sampleTask({ mode: "fix_ci", headBranch: "porter/7-abcdefgh" })
      yield* s.create(task)
      assert.deepStrictEqual(yield* s.get(task.id), task)
    }))

  it.effect("stores the new fields: mode, request key, the word that named no agent, the approver", () =>
    Effect.gen(function*() {
      const s = yield* store
      const task = yield* sampleTask({
        state: "awaiting_approval",
        mode: "ask",
        requestKey: `comment:review_comment:${Date.now()}${nextSerial()}`,
        notAnAgent: "refactor"
      })
      yield* s.create(task)
      assert.deepStrictEqual(yield* s.get(task.id), task)
      const approved = yield* s.transition(task.id, "queued", 2_000, {
        approvedBy: "maintainer",
        deadlineAt: 9_000
      })
      assert.strictEqual(approved.approvedBy, "maintainer")
      assert.strictEqual((yield* s.get(task.id)).approvedBy, "maintainer")
      assert.strictEqual((yield* s.get(task.id)).deadlineAt, 9_000)
      assert.strictEqual(yield* s.countActive({ repo: task.repo.fullName }), 1, "awaiting approval is active")
    }))

  it.effect("unknown ids: get fails with TaskNotFound, find is None", () =>
    Effect.gen(function*() {
      const s = yield* store
      const id = yield* Ids.makeTaskId
      assert.strictEqual((yield* Effect.flip(s.get(id)))._tag, "TaskNotFound")
      assert.isTrue(Option.isNone(yield* s.find(id)))
      assert.strictEqual((yield* Effect.flip(s.transition(id, "failed", 1)))._tag, "TaskNotFound")
    }))
}

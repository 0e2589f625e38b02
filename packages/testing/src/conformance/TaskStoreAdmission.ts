/**
 * The TaskStore contract, admission: a queued task starts only within the free slots of its repository, its requester
 * and its issue, in queue order, and racing admissions never pass a limit.
 */
import { assert } from "@effect/vitest"
import { Repo, TaskStore } from "@porter/core"
import { Effect } from "effect"
import { nextSerial, sampleTask, type TaskStoreIt, uniqueRepo } from "./TaskStoreFixtures.ts"

const store = TaskStore.TaskStore

/** Registers the admission tests of the `TaskStore` contract with `it`. */
export const register = (it: TaskStoreIt) => {
  it.effect("admit: queued → provisioning within the slots of the repository, the requester and the issue", () =>
    Effect.gen(function*() {
      const s = yield* store
      const repo = uniqueRepo()
      const limits = { perRepository: 2, perUser: 10 }
      // Made a few milliseconds apart: ids (and so the queue) sort by creation time.
      const later = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.andThen(Effect.sleep("2 millis"), effect)
      const running = yield* sampleTask({ repo, state: "running", issueNumber: 1 })
      const a = yield* later(sampleTask({ repo, issueNumber: 2, timeoutMs: 60_000 }))
      const b = yield* later(sampleTask({ repo, issueNumber: 3 }))
      const sameIssue = yield* later(sampleTask({ repo, issueNumber: 1 }))
      for (const t of [running, a, b, sameIssue]) yield* s.create(t)
      assert.deepStrictEqual((yield* s.listQueued(repo.fullName, 10)).map((t) => t.id), [a.id, b.id, sameIssue.id])
      assert.deepStrictEqual(yield* s.admit(sameIssue, limits, 5_000), { _tag: "Waiting", scope: "issue" })
      const admitted = yield* s.admit(a, limits, 5_000)
      assert.strictEqual(admitted._tag, "Admitted")
      if (admitted._tag === "Admitted") {
        assert.strictEqual(admitted.task.state, "provisioning")
        assert.strictEqual(admitted.task.deadlineAt, 65_000, "the timeout counts from the admission")
        assert.strictEqual(admitted.task.dispatchAttempts, 0)
      }
      assert.deepStrictEqual(yield* s.admit(a, limits, 5_000), { _tag: "NotQueued" })
      assert.deepStrictEqual(yield* s.admit(b, limits, 5_000), { _tag: "Waiting", scope: "repository" })
      const transitions = (yield* s.events(a.id)).filter((e) => e.kind === "transition").map((e) => e.to)
      assert.deepStrictEqual(transitions, ["queued", "provisioning"])
      // The per-user limit counts the requester's slots in every repository.
      const requestedBy = new Repo.Actor({ login: "busy", id: 78_000_000 + nextSerial(), type: "User" })
      const elsewhere = yield* sampleTask({ requestedBy, state: "provisioning" })
      const mine = yield* sampleTask({ requestedBy })
      yield* s.create(elsewhere)
      yield* s.create(mine)
      assert.deepStrictEqual(yield* s.admit(mine, { perRepository: 10, perUser: 1 }, 5_000), {
        _tag: "Waiting",
        scope: "user"
      })
      yield* s.transition(elsewhere.id, "succeeded", 6_000)
      assert.strictEqual((yield* s.admit(mine, { perRepository: 10, perUser: 1 }, 6_000))._tag, "Admitted")
      assert.deepStrictEqual(
        yield* s.admit(yield* sampleTask({ repo }), limits, 1),
        { _tag: "NotQueued" },
        "unknown"
      )
      // In order: an older queued task that could start goes first; one that cannot (its issue is busy) does not
      // hold the younger back.
      const queueRepo = uniqueRepo()
      const busy = yield* sampleTask({ repo: queueRepo, issueNumber: 1, state: "running" })
      yield* s.create(busy)
      yield* Effect.sleep("2 millis")
      const blocked = yield* sampleTask({ repo: queueRepo, issueNumber: 1 })
      yield* s.create(blocked)
      yield* Effect.sleep("2 millis")
      const older = yield* sampleTask({ repo: queueRepo, issueNumber: 2 })
      yield* s.create(older)
      yield* Effect.sleep("2 millis")
      const younger = yield* sampleTask({ repo: queueRepo, issueNumber: 3 })
      yield* s.create(younger)
      const wide = { perRepository: 10, perUser: 10 }
      assert.deepStrictEqual(yield* s.admit(younger, wide, 7_000), { _tag: "Waiting", scope: "queue" })
      assert.strictEqual((yield* s.admit(older, wide, 7_000))._tag, "Admitted")
      assert.strictEqual((yield* s.admit(younger, wide, 7_000))._tag, "Admitted", "not held back by a busy issue")
      assert.deepStrictEqual(yield* s.admit(blocked, wide, 7_000), { _tag: "Waiting", scope: "issue" })
    }))

  it.effect("admissions hold the limits atomically: racing admissions never pass a limit of 3, and fill it", () =>
    Effect.gen(function*() {
      const s = yield* store
      // One repository: rounds of racing admissions of every queued task, until none passes.
      const repo = uniqueRepo()
      const tasks = yield* Effect.forEach(
        Array.from({ length: 12 }),
        (_, i) => sampleTask({ repo, issueNumber: i + 1 })
      )
      for (const t of tasks) yield* s.create(t)
      let admitted = 0
      for (let round = 0; round < 12; round++) {
        const results = yield* Effect.all(
          tasks.map((t) => s.admit(t, { perRepository: 3, perUser: 100 }, 2_000)),
          { concurrency: "unbounded" }
        )
        const passed = results.filter((r) => r._tag === "Admitted").length
        admitted += passed
        assert.isAtMost(admitted, 3)
        if (passed === 0) break
      }
      assert.strictEqual(admitted, 3)
      assert.strictEqual((yield* s.listQueued(repo.fullName, 100)).length, 9)
      // One requester in twelve repositories (no queue order between them): one race, exactly 3 pass.
      const requestedBy = new Repo.Actor({ login: "racer", id: 79_000_000 + nextSerial(), type: "User" })
      const spread = yield* Effect.forEach(Array.from({ length: 12 }), () => sampleTask({ requestedBy }))
      for (const t of spread) yield* s.create(t)
      const results = yield* Effect.all(
        spread.map((t) => s.admit(t, { perRepository: 100, perUser: 3 }, 2_000)),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(results.filter((r) => r._tag === "Admitted").length, 3)
      assert.isTrue(results.every((r) => r._tag === "Admitted" || (r._tag === "Waiting" && r.scope === "user")))
    }))
}

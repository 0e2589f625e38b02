// D1-specific behaviour of the task store, on a real local D1 (workerd via Miniflare): races
// between isolates, the audit trail written with each transition, the database's own guards,
// and the query plans that keep the sweep and the intake checks cheap.
import { afterAll, assert, layer } from "@effect/vitest"
import { Errors, type Ids, Repo, Task, TaskStore } from "@porter/core"
import { D1TaskStore } from "@porter/d1"
import { TaskStoreSuite } from "@porter/testing/conformance"
import { Context, Effect, Exit, Layer } from "effect"
import { clientLayer, explain, raw, recording, start } from "./utils.ts"

const d1 = await start()
afterAll(() => d1.dispose())

const Store = D1TaskStore.layer.pipe(Layer.provideMerge(clientLayer(d1.db)))

/** A store on its own client, as another Worker isolate would have (`fresh`: not the memoized one). */
const isolate = (db: typeof d1.db) =>
  Effect.map(
    Layer.build(Layer.fresh(D1TaskStore.layer).pipe(Layer.provide(clientLayer(db)))),
    (context) => Context.get(context, TaskStore.TaskStore)
  )

const running = (overrides: Partial<ConstructorParameters<typeof Task.Task>[0]> = {}) =>
  TaskStoreSuite.sampleTask({ state: "running", startedAt: 1_500, heartbeatAt: 1_500, updatedAt: 1_500, ...overrides })

const transitionsOf = (events: ReadonlyArray<TaskStore.TaskEvent>) =>
  events.filter((e) => e.kind === "transition" && e.from !== undefined).map((e) => `${e.from}>${e.to}`)

layer(Store, { excludeTestServices: true })("D1TaskStore on local D1", (it) => {
  it.effect("50 claims of one delivery from two isolates: one winner, one row", () =>
    Effect.gen(function*() {
      // A second, independent client on the same database: another Worker isolate.
      const other = yield* isolate(d1.db)
      const store = yield* TaskStore.TaskStore
      const id = `race-${Date.now()}` as Ids.DeliveryId
      const claims = Array.from({ length: 50 }, (_, i) =>
        (i % 2 === 0 ? store : other).claimDelivery({ id, receivedAt: 1_000 + i, payload: `{"n":${i}}` }))
      const results = yield* Effect.all(claims, { concurrency: "unbounded" })
      assert.strictEqual(results.filter(Boolean).length, 1)
      const rows = yield* raw<{ attempts: number; payload: string }>`
        SELECT attempts, payload FROM deliveries WHERE id = ${id}`
      assert.strictEqual(rows.length, 1)
      assert.strictEqual(rows[0]!.attempts, 1)
      const winner = results.indexOf(true)
      assert.strictEqual(rows[0]!.payload, `{"n":${winner}}`, "the stored payload is the winner's")
    }))

  it.effect("a burst of late callbacks leaves a finished task exactly as it was, with one terminal audit row", () =>
    Effect.gen(function*() {
      const store = yield* TaskStore.TaskStore
      const task = yield* running()
      yield* store.create(task)
      const done = yield* store.transition(task.id, "succeeded", 5_000, {
        outcome: "pushed",
        summary: "done",
        usage: new Task.Usage({ inputTokens: 10, costUsd: 0.5 })
      })
      const times = Array.from({ length: 20 }, (_, i) => 6_000 + i)
      const late = [
        ...times.map((at) => store.transition(task.id, "running", at, { heartbeatAt: at })),
        ...times.map((at) =>
          store.transition(task.id, at % 2 ? "failed" : "timed_out", at, { reason: "late", summary: "overwritten" })
        ),
        ...times.map((at) => store.update(task.id, { heartbeatAt: at, summary: "overwritten" }, at))
      ]
      // `flip`: a late write that succeeded would fail the whole burst here.
      const errors = yield* Effect.all(late.map(Effect.flip), { concurrency: "unbounded" })
      for (const error of errors) {
        assert.instanceOf(error, Errors.IllegalTransition)
        if (error._tag === "IllegalTransition") assert.strictEqual(error.from, "succeeded")
      }
      assert.deepStrictEqual(yield* store.get(task.id), done)
      const events = yield* store.events(task.id)
      assert.deepStrictEqual(transitionsOf(events), ["running>succeeded"])
    }))

  it.effect("racing terminal transitions: the audit trail names the single winner", () =>
    Effect.gen(function*() {
      const store = yield* TaskStore.TaskStore
      const task = yield* running()
      yield* store.create(task)
      const targets = ["succeeded", "failed", "timed_out", "cancelled"] as const
      const exits = yield* Effect.all(
        Array.from({ length: 40 }, (_, i) => Effect.exit(store.transition(task.id, targets[i % 4]!, 5_000 + i))),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(exits.filter(Exit.isSuccess).length, 1)
      const final = yield* store.get(task.id)
      assert.deepStrictEqual(transitionsOf(yield* store.events(task.id)), [`running>${final.state}`])
    }))

  it.effect("the audit row of a terminal move carries its reason, at the move's time", () =>
    Effect.gen(function*() {
      const store = yield* TaskStore.TaskStore
      const task = yield* running()
      yield* store.create(task)
      yield* store.transition(task.id, "timed_out", 9_000, { reason: "no heartbeat for 5 minutes" })
      const events = yield* store.events(task.id)
      assert.deepStrictEqual(
        events.filter((e) => e.kind === "transition").map((e) => [e.kind, e.from, e.to, e.at, e.detail]),
        [["transition", undefined, "running", task.createdAt, undefined], [
          "transition",
          "running",
          "timed_out",
          9_000,
          "no heartbeat for 5 minutes"
        ]]
      )
    }))

  it.effect("the database itself refuses to revive a terminal task or rewrite the audit trail", () =>
    Effect.gen(function*() {
      const store = yield* TaskStore.TaskStore
      const task = yield* running()
      yield* store.create(task)
      yield* store.transition(task.id, "cancelled", 2_000)
      const revive = yield* Effect.exit(raw`UPDATE tasks SET state = 'running' WHERE id = ${task.id}`)
      assert.isTrue(Exit.isFailure(revive))
      const rewrite = yield* Effect.exit(raw`UPDATE task_events SET to_state = 'succeeded' WHERE task_id = ${task.id}`)
      assert.isTrue(Exit.isFailure(rewrite))
      assert.strictEqual((yield* store.get(task.id)).state, "cancelled")
      assert.deepStrictEqual(transitionsOf(yield* store.events(task.id)), ["running>cancelled"])
    }))

  it.effect("listDue stops each condition at the limit and lists a task due twice once", () =>
    Effect.gen(function*() {
      const store = yield* TaskStore.TaskStore
      // Far in the future, so no other test's tasks are due at this time (they share the database).
      const now = 9e12
      const options = { heartbeatTimeoutMs: 60_000, dispatchTimeoutMs: 30_000, limit: 3 }
      const both = yield* running({ deadlineAt: now - 10, heartbeatAt: now - 120_000, updatedAt: now - 120_000 })
      const overdue = yield* Effect.forEach([1, 2, 3, 4], (i) =>
        running({ deadlineAt: now - 1_000 * i, heartbeatAt: now }))
      for (const t of [both, ...overdue]) {
        yield* store.create(t)
      }
      const due = yield* store.listDue(now, options)
      assert.strictEqual(due.length, 3)
      assert.deepStrictEqual(
        due.map((t) =>
          t.deadlineAt
        ),
        [...due.map((t) => t.deadlineAt)].sort((a, b) => a - b)
      )
      const all = yield* store.listDue(now, { ...options, limit: 100 })
      const ids = all.map((t) => t.id).filter((id) => [both, ...overdue].some((t) => t.id === id))
      assert.strictEqual(ids.length, 5)
      assert.strictEqual(new Set(ids).size, 5)
    }))

  it.effect("a handled delivery drops its payload and is never retried", () =>
    Effect.gen(function*() {
      const store = yield* TaskStore.TaskStore
      const id = `handled-${Date.now()}` as Ids.DeliveryId
      yield* store.claimDelivery({ id, receivedAt: 10, payload: "{\"big\":true}" })
      yield* store.completeDelivery(id, 20)
      const rows = yield* raw<{ payload: string | null; completed_at: number }>`
        SELECT payload, completed_at FROM deliveries WHERE id = ${id}`
      assert.deepStrictEqual(rows.map((r) => [r.payload, r.completed_at]), [[null, 20]])
      const retried = yield* store.retryDeliveries(1e15, 10_000)
      assert.isFalse(retried.some((d) => d.id === id))
    }))

  it.effect("a row that does not decode fails with StoreError, not a defect", () =>
    Effect.gen(function*() {
      const store = yield* TaskStore.TaskStore
      // Terminal, so the broken row stays out of the other tests' sweeps.
      const task = yield* TaskStoreSuite.sampleTask({ state: "failed" })
      yield* store.create(task)
      yield* raw`UPDATE tasks SET trigger_kind = 'carrier_pigeon' WHERE id = ${task.id}`
      const error = yield* Effect.flip(store.get(task.id))
      assert.strictEqual(error._tag, "StoreError")
      const listed = yield* Effect.flip(store.listByIssue(task.repo.fullName, task.issueNumber, 10))
      assert.strictEqual(listed._tag, "StoreError")
    }))

  it.effect("the sweep and the intake checks use their indexes: no scan of tasks", () =>
    Effect.gen(function*() {
      // A fresh client: the driver prepares each distinct statement once, and this one has seen none.
      const recorder = recording(d1.db)
      const store = yield* isolate(recorder.db)
      const repo = new Repo.RepoRef({ owner: "plan", name: "check" })
      yield* store.listDue(1e12, { heartbeatTimeoutMs: 60_000, dispatchTimeoutMs: 30_000, limit: 500 })
      yield* store.countActive({ repo: repo.fullName })
      yield* store.countActive({ repo: repo.fullName, issueNumber: 1 })
      yield* store.countActive({ userId: 42 })
      yield* store.listActive({ repo: repo.fullName, issueNumber: 1 })
      yield* store.listByIssue(repo.fullName, 1, 20)
      yield* store.retryDeliveries(1, 50)
      yield* store.events("task_00000000000000000000000000" as Ids.TaskId)
      const expected = [
        ["tasks_due_deadline", "tasks_due_heartbeat", "tasks_due_dispatch"],
        ["tasks_active_repo"],
        ["tasks_active_repo"],
        ["tasks_active_user"],
        ["tasks_active_repo"],
        ["tasks_issue"],
        ["deliveries_pending"],
        ["task_events_task"]
      ]
      assert.strictEqual(recorder.seen.length, expected.length)
      for (const [index, { params, query }] of recorder.seen.entries()) {
        const plan = yield* explain(d1.db, query, params)
        const text = plan.join("\n")
        assert.notMatch(text, /\bSCAN (tasks|deliveries|task_events)\b/, `${query}\n${text}`)
        for (const index_ of expected[index]!) assert.include(text, `USING INDEX ${index_}`, `${query}\n${text}`)
      }
    }))
})

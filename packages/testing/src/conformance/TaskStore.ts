/**
 * The TaskStore contract. Every adapter runs it: `TaskStoreSuite.run("D1", layer)`. Tests use
 * their own repositories and ids, so they can share one database.
 */
import { assert, describe, layer as withLayer } from "@effect/vitest"
import { Ids, Repo, Task, TaskStore } from "@porter/core"
import { Effect, Exit, Layer, Option } from "effect"

let serial = 0
/** A repository no other test uses (stores shared by several tests stay apart). */
export const uniqueRepo = () =>
  new Repo.RepoRef({ owner: `conf-${Date.now().toString(36)}${(serial++).toString(36)}`, name: "repo" })

/** A queued task on a unique repository, with `overrides`. */
export const sampleTask = (overrides: Partial<ConstructorParameters<typeof Task.Task>[0]> = {}) =>
  Effect.map(Ids.makeTaskId, (id) =>
    new Task.Task({
      id,
      state: "queued",
      repo: uniqueRepo(),
      issueNumber: 7,
      isPullRequest: false,
      requestedBy: new Repo.Actor({ login: "octocat", id: 583231, type: "User" }),
      triggerKind: "issue_comment",
      triggerCommentId: 42,
      deliveryId: `d-${id}` as Ids.DeliveryId,
      agent: "claude",
      instructions: "make the date parser accept ISO weeks",
      timeoutMs: 1_800_000,
      createdAt: 1_000,
      updatedAt: 1_000,
      deadlineAt: 1_801_000,
      dispatchAttempts: 0,
      ...overrides
    }))

const store = TaskStore.TaskStore

/** Registers the `TaskStore` contract's tests against `layer`. */
export const run = <E>(name: string, layer: Layer.Layer<TaskStore.TaskStore, E>) =>
  describe(`TaskStore conformance: ${name}`, () => {
    withLayer(layer, { timeout: 60_000, excludeTestServices: true })((it) => {
      it.effect("claims a delivery exactly once, also when 50 claims race", () =>
        Effect.gen(function*() {
          const s = yield* store
          const id = `race-${Date.now()}-${Math.random()}` as Ids.DeliveryId
          const results = yield* Effect.all(
            Array.from({ length: 50 }, () => s.claimDelivery({ id, receivedAt: 1, payload: "{}" })),
            { concurrency: "unbounded" }
          )
          assert.strictEqual(results.filter(Boolean).length, 1)
          assert.isFalse(yield* s.claimDelivery({ id, receivedAt: 2, payload: "{}" }))
        }))

      it.effect("claims of many deliveries at once: each claimed once, each stored with its own payload", () =>
        Effect.gen(function*() {
          const s = yield* store
          const tag = `${Date.now()}-${Math.random()}`
          // 40 distinct deliveries (more than a SQL store inserts in one statement), 20 of them claimed twice.
          const claims = Array.from({ length: 60 }, (_, i) => {
            const n = i < 40 ? i : (i - 40) * 2
            return { id: `many-${n}-${tag}` as Ids.DeliveryId, receivedAt: -1_000 + n, payload: `{"n":${n}}` }
          })
          const results = yield* Effect.all(claims.map((claim) => s.claimDelivery(claim)), {
            concurrency: "unbounded"
          })
          for (let n = 0; n < 40; n++) {
            const won = claims.flatMap((claim, i) => (claim.id === `many-${n}-${tag}` && results[i] ? [i] : []))
            assert.strictEqual(won.length, 1, `delivery ${n} claimed once`)
          }
          const pending = (yield* s.retryDeliveries(0, 1000)).filter((d) => d.id.endsWith(tag))
          assert.strictEqual(pending.length, 40)
          for (const delivery of pending) {
            const n = Number(delivery.id.split("-")[1])
            assert.deepStrictEqual([delivery.receivedAt, delivery.payload], [-1_000 + n, `{"n":${n}}`])
          }
          yield* Effect.forEach(pending, (delivery) => s.completeDelivery(delivery.id, 1))
        }))

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
          const requestedBy = new Repo.Actor({ login: "limited", id: 77_000_000 + serial++, type: "User" })
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
          const requestKey = `comment:issue_comment:${Date.now()}${serial++}`
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
            requestKey: `comment:review_comment:${Date.now()}${serial++}`,
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
          const requestedBy = new Repo.Actor({ login: "busy", id: 78_000_000 + serial++, type: "User" })
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
          const requestedBy = new Repo.Actor({ login: "racer", id: 79_000_000 + serial++, type: "User" })
          const spread = yield* Effect.forEach(Array.from({ length: 12 }), () => sampleTask({ requestedBy }))
          for (const t of spread) yield* s.create(t)
          const results = yield* Effect.all(
            spread.map((t) => s.admit(t, { perRepository: 100, perUser: 3 }, 2_000)),
            { concurrency: "unbounded" }
          )
          assert.strictEqual(results.filter((r) => r._tag === "Admitted").length, 3)
          assert.isTrue(results.every((r) => r._tag === "Admitted" || (r._tag === "Waiting" && r.scope === "user")))
        }))

      it.effect("claimNotice: once per quiet period, one of racing claims", () =>
        Effect.gen(function*() {
          const s = yield* store
          const key = `refused:${Date.now()}-${Math.random()}`
          const results = yield* Effect.all(
            Array.from({ length: 10 }, () => s.claimNotice(key, 1_000, 3_600_000)),
            { concurrency: "unbounded" }
          )
          assert.strictEqual(results.filter(Boolean).length, 1)
          assert.isFalse(yield* s.claimNotice(key, 1_000 + 3_599_999, 3_600_000))
          assert.isTrue(yield* s.claimNotice(key, 1_000 + 3_600_000, 3_600_000))
          assert.isFalse(yield* s.claimNotice(key, 1_000 + 3_600_001, 3_600_000))
          assert.isTrue(yield* s.claimNotice(`${key}-other`, 1_000, 3_600_000))
        }))

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

      it.effect("unknown ids: get fails with TaskNotFound, find is None", () =>
        Effect.gen(function*() {
          const s = yield* store
          const id = yield* Ids.makeTaskId
          assert.strictEqual((yield* Effect.flip(s.get(id)))._tag, "TaskNotFound")
          assert.isTrue(Option.isNone(yield* s.find(id)))
          assert.strictEqual((yield* Effect.flip(s.transition(id, "failed", 1)))._tag, "TaskNotFound")
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
            Array.from({ length: 60 }, (_, i) =>
              Effect.exit(s.transition(task.id, targets[i % targets.length]!, 3_000 + i))),
            { concurrency: "unbounded" }
          )
          assert.isTrue(exits.every(Exit.isFailure))
          const updates = yield* Effect.all(
            Array.from({ length: 10 }, () =>
              Effect.exit(s.update(task.id, { heartbeatAt: 9_999 }, 9_999))),
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

      it.effect("counts and lists active tasks by repository, issue and user", () =>
        Effect.gen(function*() {
          const s = yield* store
          const repo = uniqueRepo()
          const other = new Repo.Actor({ login: "hubot", id: 99_000_000 + serial++, type: "User" })
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

      it.effect("retries deliveries that were never completed, counting attempts", () =>
        Effect.gen(function*() {
          const s = yield* store
          const tag = `${Date.now()}-${Math.random()}`
          const stale = `stale-${tag}` as Ids.DeliveryId
          const done = `done-${tag}` as Ids.DeliveryId
          const young = `young-${tag}` as Ids.DeliveryId
          yield* s.claimDelivery({ id: stale, receivedAt: 1_000, payload: "{\"a\":1}" })
          yield* s.claimDelivery({ id: done, receivedAt: 1_000, payload: "{}" })
          yield* s.completeDelivery(done, 1_500)
          yield* s.claimDelivery({ id: young, receivedAt: 9_000, payload: "{}" })
          const first = (yield* s.retryDeliveries(5_000, 1000)).filter((d) => d.id.endsWith(tag))
          assert.deepStrictEqual(first.map((d) => d.id), [stale])
          assert.strictEqual(first[0]!.payload, "{\"a\":1}")
          assert.strictEqual(first[0]!.receivedAt, 1_000)
          const second = (yield* s.retryDeliveries(5_000, 1000)).filter((d) => d.id.endsWith(tag))
          assert.strictEqual(second[0]!.attempts, first[0]!.attempts + 1)
          yield* s.completeDelivery(stale, 6_000)
          assert.strictEqual((yield* s.retryDeliveries(5_000, 1000)).filter((d) => d.id.endsWith(tag)).length, 0)
        }))

      it.effect("a leased retry hands each delivery to one of racing sweepers, once per retry period", () =>
        Effect.gen(function*() {
          const s = yield* store
          const tag = `${Date.now()}-${Math.random()}`
          const id = `leased-${tag}` as Ids.DeliveryId
          yield* s.claimDelivery({ id, receivedAt: 1_000, payload: "{}" })
          const mine = (list: ReadonlyArray<TaskStore.PendingDelivery>) => list.filter((d) => d.id === id)
          const raced = yield* Effect.all(
            Array.from({ length: 10 }, () => s.retryDeliveries(5_000, 1000, 6_000)),
            { concurrency: "unbounded" }
          )
          const taken = raced.flatMap(mine)
          assert.strictEqual(taken.length, 1)
          assert.strictEqual(taken[0]!.attempts, 2)
          assert.deepStrictEqual(mine(yield* s.retryDeliveries(5_000, 1000, 6_500)), [], "leased until 6,000 is old")
          const again = mine(yield* s.retryDeliveries(7_000, 1000, 9_000))
          assert.deepStrictEqual(again.map((d) => [d.id, d.attempts]), [[id, 3]])
          yield* s.completeDelivery(id, 9_500)
          assert.deepStrictEqual(mine(yield* s.retryDeliveries(20_000, 1000, 30_000)), [])
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
    })
  })

/**
 * Watchdog: one sweep ends hung runs (deadline, missing heartbeat), dispatches stuck tasks again (at most
 * `maxDispatchAttempts` times), handles again deliveries whose handling never finished, and destroys orphan machines —
 * also those started with a user's own provider credential, which the adapter's own credential cannot see.
 */
import { assert, describe, it } from "@effect/vitest"
import {
  Command,
  Dispatcher,
  Errors,
  Event,
  type Ids,
  Intake,
  MachineProvisioner,
  Messages,
  SecretStore,
  Settings,
  TaskLifecycle,
  TaskStore,
  Watchdog
} from "@porter/core"
import { Fixtures, InMemoryProvisioner, Machines } from "@porter/testing"
import { Effect, Layer, Redacted, Ref, Schema } from "effect"
import { TestClock } from "effect/testing"
import {
  ANTHROPIC_KEY,
  auditKinds,
  callbackEvent,
  layer,
  runRequest,
  START,
  storedTask,
  taskOf,
  tasksOf,
  thread,
  withKey
} from "./support/Lifecycle.ts"

const sweep = Effect.flatMap(Watchdog.Watchdog, (watchdog) => watchdog.sweep)

const none: Watchdog.SweepReport = {
  checked: 0,
  timedOut: 0,
  redispatched: 0,
  failed: 0,
  orphansDestroyed: 0,
  deliveriesRetried: 0,
  queuesPromoted: 0
}

/** Starts a task through the Dispatcher; returns its id and machine. */
const started = (run = new Command.Run({ agent: "claude", instructions: "fix it" }), issueNumber = 1) =>
  Effect.gen(function*() {
    const event = Fixtures.commentCreated({ body: "@porter claude fix it", issueNumber })
    yield* (yield* Dispatcher.Dispatcher).start(yield* runRequest({ run, event }))
    const created = yield* (yield* Machines).created
    const latest = created[created.length - 1]!
    return { taskId: latest.spec.taskId, machine: latest.machine, spec: latest.spec }
  })

const callback = (taskId: Ids.TaskId, body: unknown) =>
  Effect.flatMap(TaskLifecycle.TaskLifecycle, (lifecycle) => lifecycle.callback(taskId, callbackEvent(body)))

const pendingDeliveries = Effect.flatMap(
  TaskStore.TaskStore,
  (store) => store.retryDeliveries(Number.MAX_SAFE_INTEGER, 100)
)

describe("Watchdog: hung runs", () => {
  it.effect("the deadline ends a task whose machine never called back: timed out, machine destroyed, issue told", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(START)
      const machines = yield* Machines
      const { taskId } = yield* started(
        new Command.Run({ agent: "claude", timeoutMs: 10 * 60_000, instructions: "fix it" })
      )
      // Silent but alive: each sweep leaves it to the deadline (no second machine).
      for (let minute = 1; minute <= 9; minute++) {
        yield* TestClock.adjust("1 minute")
        const report = yield* sweep
        assert.strictEqual(report.timedOut + report.redispatched + report.failed, 0, `minute ${minute}`)
      }
      assert.strictEqual((yield* machines.created).length, 1)
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(yield* sweep, { ...none, checked: 1, timedOut: 1 })
      const task = yield* taskOf(taskId)
      assert.strictEqual(task.state, "timed_out")
      assert.strictEqual(task.reason, "the time limit (10m 0s) ran out")
      assert.deepStrictEqual(yield* machines.live, [])
      assert.include((yield* thread())[0]!.body, "⏱")
      assert.deepStrictEqual(yield* sweep, none, "an ended task is not looked at again")
    }).pipe(Effect.provide(layer())))

  it.effect("a running task without a heartbeat for heartbeatTimeoutMs is timed out; one that beats is not", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(START)
      const silent = yield* started()
      // On another issue: a second task on the same issue would wait for the first.
      const beating = yield* started(undefined, 2)
      yield* callback(silent.taskId, { type: "started" })
      yield* callback(beating.taskId, { type: "started" })
      yield* TestClock.adjust("90 seconds")
      yield* callback(beating.taskId, { type: "heartbeat" })
      assert.strictEqual((yield* sweep).timedOut, 0)
      yield* TestClock.adjust("30 seconds")
      yield* callback(beating.taskId, { type: "heartbeat" })
      const report = yield* sweep
      assert.strictEqual(report.timedOut, 1)
      const task = yield* taskOf(silent.taskId)
      assert.strictEqual(task.state, "timed_out")
      assert.strictEqual(task.reason, "the machine stopped reporting (no heartbeat for 2m 0s)")
      assert.strictEqual((yield* taskOf(beating.taskId)).state, "running")
      assert.deepStrictEqual((yield* (yield* Machines).live).map((m) => m.id), [beating.machine.id])
    }).pipe(Effect.provide(layer({ ...withKey, config: { heartbeatTimeoutMs: 2 * 60_000 } }))))
})

describe("Watchdog: stuck dispatches", () => {
  it.effect("a queued task whose dispatcher died is admitted by the sweep, and dispatched once, later", () =>
    Effect.gen(function*() {
      const machines = yield* Machines
      const task = yield* storedTask()
      // Admitted (a slot is free), but without its status comment: left to its dispatcher for dispatchTimeoutMs.
      assert.deepStrictEqual(yield* sweep, { ...none, queuesPromoted: 1 })
      assert.strictEqual((yield* taskOf(task.id)).state, "provisioning")
      yield* TestClock.adjust("2 minutes")
      assert.strictEqual((yield* sweep).redispatched, 0, "not before dispatchTimeoutMs")
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(yield* sweep, { ...none, checked: 1, redispatched: 1 })
      const created = yield* machines.created
      assert.deepStrictEqual(created.map((c) => c.spec.taskId), [task.id])
      const after = yield* taskOf(task.id)
      assert.strictEqual(after.state, "provisioning")
      assert.strictEqual(after.dispatchAttempts, 1)
      assert.strictEqual(after.machineId, created[0]!.machine.id)
      assert.include(yield* auditKinds(task.id), "sweep")
      // The issue hears of it: the status comment the dead dispatcher never wrote.
      assert.strictEqual(Messages.parseMarker((yield* thread())[0]!.body)?.state, "provisioning")
      for (let i = 0; i < 3; i++) {
        yield* TestClock.adjust("3 minutes")
        assert.strictEqual((yield* sweep).redispatched, 0)
      }
      assert.strictEqual((yield* machines.created).length, 1, "its machine is alive: no second one")
    }).pipe(Effect.provide(layer())))

  it.effect("a task that reached maxDispatchAttempts without a machine is failed, and the issue says so", () =>
    Effect.gen(function*() {
      const store = yield* TaskStore.TaskStore
      const task = yield* storedTask()
      // Three dispatchers began and died.
      for (const attempts of [0, 1, 2]) yield* store.beginDispatch(task.id, attempts, 0)
      yield* TestClock.adjust("3 minutes")
      assert.deepStrictEqual(yield* sweep, { ...none, checked: 1, failed: 1 })
      const after = yield* taskOf(task.id)
      assert.strictEqual(after.state, "failed")
      assert.strictEqual(after.reason, "no machine could be started after 3 attempts")
      assert.strictEqual((yield* (yield* Machines).created).length, 0)
      assert.include((yield* thread())[0]!.body, "no machine could be started after 3 attempts")
    }).pipe(Effect.provide(layer())))

  it.effect("a provider outage: each sweep tries again, the last allowed attempt fails the task", () =>
    Effect.gen(function*() {
      const machines = yield* Machines
      const unavailable = new Errors.ProvisionError({ reason: "unavailable", message: "Fly API answered 503" })
      yield* machines.inject({ op: "create", error: unavailable }, { op: "create", error: unavailable }, {
        op: "create",
        error: unavailable
      })
      yield* (yield* Dispatcher.Dispatcher).start(yield* runRequest())
      const taskId = (yield* tasksOf())[0]!.id
      assert.strictEqual((yield* taskOf(taskId)).state, "provisioning", "deferred to the sweep")
      yield* TestClock.adjust("3 minutes")
      assert.strictEqual((yield* sweep).redispatched, 1)
      assert.strictEqual((yield* taskOf(taskId)).dispatchAttempts, 2)
      assert.strictEqual((yield* taskOf(taskId)).state, "provisioning")
      yield* TestClock.adjust("3 minutes")
      yield* sweep
      const task = yield* taskOf(taskId)
      assert.strictEqual(task.dispatchAttempts, 3)
      assert.strictEqual(task.state, "failed")
      assert.strictEqual(task.reason, "could not start a machine: Fly API answered 503")
      assert.strictEqual((yield* machines.created).length, 0)
      assert.deepStrictEqual((yield* auditKinds(taskId)).filter((k) => k === "dispatch_deferred").length, 2)
    }).pipe(Effect.provide(layer())))
})

describe("Watchdog: deliveries", () => {
  it.effect("a claimed delivery never handled is handled by the sweep after deliveryRetryAfterMs, once", () =>
    Effect.gen(function*() {
      const intake = yield* Intake.Intake
      const event = Fixtures.commentCreated({ body: "@porter claude fix it" })
      assert.strictEqual((yield* intake.accept(event))._tag, "Accepted")
      yield* TestClock.adjust("1 minute")
      assert.strictEqual((yield* sweep).deliveriesRetried, 0, "not before deliveryRetryAfterMs")
      assert.strictEqual((yield* tasksOf()).length, 0)
      yield* TestClock.adjust("61 seconds")
      assert.deepStrictEqual(yield* sweep, { ...none, deliveriesRetried: 1 })
      const [task] = yield* tasksOf()
      assert.strictEqual(task!.deliveryId, event.deliveryId)
      assert.strictEqual(task!.requestedBy.login, "octocat")
      assert.strictEqual((yield* (yield* Machines).created).length, 1)
      assert.strictEqual((yield* thread()).length, 1)
      yield* TestClock.adjust("10 minutes")
      assert.strictEqual((yield* sweep).deliveriesRetried, 0, "handled: not retried again")
    }).pipe(Effect.provide(layer())))

  it.effect("a delivery whose handling keeps dying is given up after maxDeliveryAttempts", () =>
    Effect.gen(function*() {
      const handlings = yield* Ref.make(0)
      const settings = Layer.effect(
        Settings.Settings,
        Effect.map(Settings.makeMemory(), (memory) =>
          Settings.Settings.of({
            ...memory,
            forRepo: () =>
              Effect.andThen(Ref.update(handlings, (n) => n + 1), Effect.die(new Error("settings storage crashed")))
          }))
      )
      yield* Effect.gen(function*() {
        const event = Fixtures.commentCreated({ body: "@porter claude fix it" })
        yield* (yield* TaskStore.TaskStore).claimDelivery({
          id: event.deliveryId,
          receivedAt: 0,
          payload: Schema.encodeSync(Event.IncomingEventFromJson)(event)
        })
        const retried: Array<number> = []
        for (let i = 0; i < 4; i++) {
          yield* TestClock.adjust("3 minutes")
          retried.push((yield* sweep).deliveriesRetried)
        }
        // Claimed (attempt 1), then handled again maxDeliveryAttempts (3) times; the fourth retry is past the limit.
        assert.deepStrictEqual(retried, [1, 1, 1, 0])
        assert.strictEqual(yield* Ref.get(handlings), 3)
        assert.deepStrictEqual(yield* pendingDeliveries, [])
      }).pipe(Effect.provide(layer(withKey, settings)))
    }))

  it.effect("a stored delivery that does not decode is given up at once", () =>
    Effect.gen(function*() {
      yield* (yield* TaskStore.TaskStore).claimDelivery({
        id: Fixtures.deliveryId(),
        receivedAt: 0,
        payload: "{\"_tag\":\"Nope\"}"
      })
      yield* TestClock.adjust("3 minutes")
      assert.strictEqual((yield* sweep).deliveriesRetried, 0)
      assert.deepStrictEqual(yield* pendingDeliveries, [])
    }).pipe(Effect.provide(layer())))
})

describe("Watchdog: orphan machines", () => {
  const userToken = "fly-user-token-0123456789"
  const octocat = Fixtures.actor()
  const withUserCredential = layer(
    {
      secrets: [
        { scope: SecretStore.scopes.global, name: "ANTHROPIC_API_KEY", value: ANTHROPIC_KEY },
        { scope: SecretStore.scopes.user(octocat.id), name: "FLY_API_TOKEN", value: userToken }
      ]
    },
    InMemoryProvisioner.layerWith({ credentialName: "FLY_API_TOKEN" })
  )

  it.effect("a machine started with the requester's own credential, left behind by an ended task, is destroyed after orphanGraceMs", () =>
    Effect.gen(function*() {
      const provisioner = yield* MachineProvisioner.MachineProvisioner
      const machines = yield* Machines
      const store = yield* TaskStore.TaskStore
      const { machine, spec, taskId } = yield* started()
      assert.strictEqual(Redacted.value(spec.credential!), userToken, "created in the user's account")
      // The adapter's own credential cannot see it; the user's can.
      assert.deepStrictEqual(yield* provisioner.list(), [])
      assert.deepStrictEqual((yield* provisioner.list({ credential: Redacted.make(userToken) })).map((m) => m.id), [
        machine.id
      ])

      // The task ends without its machine being destroyed (a teardown that never happened).
      yield* store.transition(taskId, "failed", yield* Effect.clockWith((clock) => clock.currentTimeMillis), {
        reason: "ended elsewhere"
      })
      yield* TestClock.adjust("9 minutes")
      assert.strictEqual((yield* sweep).orphansDestroyed, 0, "within the grace period")
      assert.deepStrictEqual((yield* machines.live).map((m) => m.id), [machine.id])
      yield* TestClock.adjust("2 minutes")
      assert.deepStrictEqual(yield* sweep, { ...none, orphansDestroyed: 1 })
      assert.deepStrictEqual(yield* machines.live, [])
      assert.include(yield* auditKinds(taskId), "orphan_destroyed")
    }).pipe(Effect.provide(withUserCredential)))

  it.effect("a timed-out task's machine in the user's account is destroyed with the user's credential", () =>
    Effect.gen(function*() {
      const machines = yield* Machines
      const { taskId } = yield* started(
        new Command.Run({ agent: "claude", timeoutMs: 5 * 60_000, instructions: "fix it" })
      )
      yield* TestClock.adjust("5 minutes")
      assert.strictEqual((yield* sweep).timedOut, 1)
      assert.strictEqual((yield* taskOf(taskId)).state, "timed_out")
      assert.deepStrictEqual(yield* machines.live, [], "destroyed at once, not left to the orphan sweep")
    }).pipe(Effect.provide(withUserCredential)))

  it.effect("only orphans older than the grace period go: live tasks keep their machine", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(START)
      const machines = yield* Machines
      const running = yield* started()
      yield* callback(running.taskId, { type: "started" })
      const ended = yield* started(undefined, 2)
      yield* callback(ended.taskId, { type: "completed", outcome: "pushed" })
      // Machines nobody recorded: one for no task, one for a task that has another machine, one too young.
      const adopt = (id: string, taskId: string | undefined, createdAt: number) =>
        machines.adopt(
          new MachineProvisioner.Machine({
            id: id as Ids.MachineId,
            ...(taskId !== undefined ? { taskId } : {}),
            state: "started",
            createdAt
          })
        )
      yield* adopt("m_stray", undefined, START)
      yield* adopt("m_second", running.taskId, START)
      for (let i = 0; i < 20; i++) {
        yield* TestClock.adjust("1 minute")
        yield* callback(running.taskId, { type: "heartbeat" })
      }
      yield* adopt("m_young", undefined, START + 19 * 60_000)
      const report = yield* sweep
      assert.strictEqual(report.orphansDestroyed, 2)
      assert.deepStrictEqual((yield* machines.live).map((m) => m.id).sort(), [running.machine.id, "m_young"].sort())
      assert.include(yield* auditKinds(running.taskId), "orphan_destroyed")
      assert.strictEqual((yield* taskOf(running.taskId)).state, "running")
    }).pipe(Effect.provide(layer())))
})

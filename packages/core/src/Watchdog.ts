/**
 * Watchdog: one sweep ends hung runs (deadline passed, heartbeat missing → `timed_out`, machine destroyed, issue
 * told), dispatches stuck tasks again, destroys orphan machines (with every stored provisioner credential, so
 * machines started with a user's own token are found too) and handles again deliveries whose handling never
 * finished. Hosts drive it: a Cron Trigger on Workers (`scheduled`), `layerTimer` in a Node host.
 *
 * Requests awaiting approval past their time are cancelled, queued tasks past theirs time out, and every repository
 * with a queue is looked at (`Queue.promote`): a slot a task's end freed, or a dispatcher that died before admitting,
 * is made up for here.
 *
 * A running task past its deadline is given `checkpointGraceMs` to hand over its work so far before it is ended (one
 * asked to stop — cancelled, over budget — a heartbeat interval more: the word reaches its runner with a callback); the retention period's old artifacts are dropped (`Artifacts.purge`).
 *
 * Several hosts may sweep one store (replicas on one PostgreSQL): each step is taken once — an ending is one
 * conditional transition, a stuck task is claimed (`TaskStore.claimDue`) before it is dispatched again, a delivery
 * retry is leased (`retryDeliveries` with `at`). Destroying an orphan machine twice is harmless.
 */
import { Clock, Context, Effect, Layer, Option, Schedule, Schema } from "effect"
import { Artifacts } from "./Artifacts.ts"
import { Audit } from "./Audit.ts"
import { Commands } from "./Commands.ts"
import { Dispatcher } from "./Dispatcher.ts"
import { IncomingEventFromJson } from "./Event.ts"
import { TaskId } from "./Ids.ts"
import { MachineAccess } from "./MachineAccess.ts"
import { isGone, type Machine, MachineProvisioner } from "./MachineProvisioner.ts"
import * as Messages from "./Messages.ts"
import { PorterConfig } from "./PorterConfig.ts"
import { Queue } from "./Queue.ts"
import type { Task } from "./Task.ts"
import { TaskLifecycle } from "./TaskLifecycle.ts"
import { TaskStore } from "./TaskStore.ts"

/** What one sweep did: tasks checked, timed out, dispatched again, failed; orphans destroyed; deliveries retried. */
export interface SweepReport {
  readonly checked: number
  readonly timedOut: number
  readonly redispatched: number
  readonly failed: number
  readonly orphansDestroyed: number
  readonly deliveriesRetried: number
  /** Repositories whose queue was looked at. */
  readonly queuesPromoted: number
}

/**
 * One sweep ends hung runs (deadline passed, heartbeat missing → `timed_out`, machine destroyed, issue told),
 * dispatches stuck tasks again, destroys orphan machines (with every stored provisioner credential, so machines started
 * with a user's own token are found too) and handles again deliveries whose handling never finished.
 */
export class Watchdog extends Context.Service<Watchdog, {
  readonly sweep: Effect.Effect<SweepReport>
}>()("@porter/core/Watchdog") {}

type Outcome = "timedOut" | "redispatched" | "failed" | "none"

const decodeEvent = Schema.decodeUnknownEffect(IncomingEventFromJson)
const decodeTaskId = Schema.decodeUnknownOption(TaskId)

/** The `Watchdog` service, built from its dependencies in the context. */
export const make = Effect.gen(function*() {
  const store = yield* TaskStore
  const provisioner = yield* MachineProvisioner
  const machines = yield* MachineAccess
  const lifecycle = yield* TaskLifecycle
  const dispatcher = yield* Dispatcher
  const commands = yield* Commands
  const audit = yield* Audit
  const config = yield* PorterConfig
  const queue = yield* Queue
  const artifacts = yield* Artifacts

  const ended = (outcome: Exclude<Outcome, "none">) => (moved: Option.Option<Task>): Outcome =>
    Option.isSome(moved) ? outcome : "none"

  const timeOut = (task: Task, reason: string) =>
    Effect.map(lifecycle.finish(task, "timed_out", { reason }), ended("timedOut"))

  const sweepTask = (task: Task, at: number): Effect.Effect<Outcome> =>
    Effect.gen(function*() {
      if (at >= task.deadlineAt) {
        if (task.state === "awaiting_approval") {
          const waited = Messages.formatDuration(task.deadlineAt - task.createdAt)
          return yield* Effect.map(
            lifecycle.finish(task, "cancelled", {
              reason: `nobody with write access approved it within ${waited}`
            }),
            ended("timedOut")
          )
        }
        if (task.state === "queued") {
          return yield* timeOut(task, `no slot came free within ${Messages.formatDuration(config.queueTimeoutMs)}`)
        }
        // Its runner is handing over the work so far (a checkpoint): it ends the task itself within its grace. A stop
        // Porter asked for reaches the runner with its next callback's answer: one heartbeat interval later at most.
        const grace = config.checkpointGraceMs + (task.stopState !== undefined ? config.heartbeatIntervalMs : 0)
        if (task.state === "running" && task.machineId !== undefined && at < task.deadlineAt + grace) return "none"
        if (task.stopState !== undefined) {
          return yield* Effect.map(
            lifecycle.finish(task, task.stopState, {
              reason: `${task.reason ?? task.stopState}; its machine handed over nothing within ${
                Messages.formatDuration(grace)
              }`
            }),
            ended(task.stopState === "failed" ? "failed" : "timedOut")
          )
        }
        return yield* timeOut(task, `the time limit (${Messages.formatDuration(task.timeoutMs)}) ran out`)
      }
      // Waiting for approval or for a slot is not a stuck dispatch: the queue's pass below admits queued tasks.
      if (task.state === "awaiting_approval" || task.state === "queued") return "none"
      if (task.state === "running") {
        const last = task.heartbeatAt ?? task.startedAt ?? task.updatedAt
        if (last > at - config.heartbeatTimeoutMs) return "none"
        return yield* timeOut(
          task,
          `the machine stopped reporting (no heartbeat for ${Messages.formatDuration(at - last)})`
        )
      }
      // queued or provisioning, untouched for a while: its dispatcher may have died. Taken first (compare-and-set on
      // the task as listed), so that of several hosts sweeping one store only one looks into it and dispatches again.
      const claimed = yield* store.claimDue(task, at)
      if (Option.isNone(claimed)) return "none"
      if (task.machineId !== undefined) {
        const options = yield* machines.optionsFor(task)
        // Only "no such machine" means it is gone: any other failure (a rate limit, an outage) leaves the task for
        // the next sweep, since dispatching again beside a live machine would make a second one.
        const machine = yield* provisioner.get(task.machineId, options).pipe(
          Effect.map(Option.some),
          Effect.catchTag("MachineNotFound", () => Effect.succeed(Option.none<Machine>()))
        )
        if (Option.isSome(machine) && !isGone(machine.value.state) && machine.value.state !== "failed") {
          // Alive but silent: leave it to the heartbeat and the deadline.
          yield* store.update(task.id, {}, at, ["provisioning"]).pipe(Effect.ignore)
          return "none"
        }
        if (Option.isSome(machine) && machine.value.state === "failed") {
          yield* machines.destroy(task, task.machineId, options)
        }
      }
      if (task.dispatchAttempts >= config.maxDispatchAttempts) {
        const moved = yield* lifecycle.finish(task, "failed", {
          reason: `no machine could be started after ${task.dispatchAttempts} attempts`
        })
        return ended("failed")(moved)
      }
      yield* audit.record(task.id, "sweep", "dispatching again")
      yield* dispatcher.redispatch(task)
      return "redispatched"
    }).pipe(
      Effect.catch((error) =>
        Effect.as(
          Effect.logWarning("sweeping a task failed", { taskId: task.id, error: error.message }),
          "none" as const
        )
      )
    )

  /** Machines whose task is gone, ended, or has another machine, older than the grace period. */
  const sweepOrphans = (at: number) =>
    Effect.gen(function*() {
      let destroyed = 0
      const seen = new Set<string>()
      for (const options of yield* machines.everyCredential) {
        const listed = yield* provisioner.list(options).pipe(
          Effect.catch((error) => Effect.as(Effect.logWarning("listing machines failed", { error: error.message }), []))
        )
        for (const machine of listed) {
          if (seen.has(machine.id) || isGone(machine.state)) continue
          seen.add(machine.id)
          if (machine.createdAt !== undefined && machine.createdAt > at - config.orphanGraceMs) continue
          const taskId = machine.taskId === undefined ? Option.none() : decodeTaskId(machine.taskId)
          const task = Option.isSome(taskId) ? yield* store.find(taskId.value) : Option.none<Task>()
          const live = Option.isSome(task) && !task.value.isTerminal &&
            (task.value.machineId ?? machine.id) === machine.id
          if (live) continue
          yield* provisioner.destroy(machine.id, options).pipe(
            Effect.tap(() =>
              Effect.logInfo("destroyed an orphan machine", { machineId: machine.id, taskId: machine.taskId })
            ),
            Effect.tap(
              () => (Option.isSome(task) ? audit.record(task.value.id, "orphan_destroyed", machine.id) : Effect.void)
            ),
            Effect.tap(() => Effect.sync(() => destroyed++)),
            Effect.catch((error) =>
              Effect.logWarning("could not destroy an orphan", { machineId: machine.id, error: error.message })
            )
          )
        }
      }
      return destroyed
    }).pipe(Effect.catch((error) => Effect.as(Effect.logWarning("orphan sweep failed", { error: error.message }), 0)))

  /** Every repository with queued tasks: admits what fits and starts it. */
  const promoteQueues = Effect.gen(function*() {
    const queued = yield* store.listQueued(undefined, 500)
    const repos = [...new Set(queued.map((task) => task.repo.fullName.toLowerCase()))]
    yield* Effect.forEach(repos, queue.promote, { concurrency: 4, discard: true })
    return repos.length
  }).pipe(Effect.catch((error) => Effect.as(Effect.logWarning("queue sweep failed", { error: error.message }), 0)))

  const retryDeliveries = (at: number) =>
    Effect.gen(function*() {
      // Leased at `at`: another host's sweep leaves these alone for a retry period.
      const pending = yield* store.retryDeliveries(at - config.deliveryRetryAfterMs, 50, at)
      let retried = 0
      for (const delivery of pending) {
        const event = yield* decodeEvent(delivery.payload).pipe(Effect.option)
        // `attempts` counts the first handling too: a delivery is handled again at most `maxDeliveryAttempts` times.
        if (Option.isNone(event) || delivery.attempts > config.maxDeliveryAttempts + 1) {
          yield* Effect.logWarning("giving up on a delivery", { deliveryId: delivery.id, attempts: delivery.attempts })
          yield* store.completeDelivery(delivery.id, at)
          continue
        }
        yield* commands.handle(event.value, delivery.receivedAt)
        retried++
      }
      return retried
    }).pipe(Effect.catch((error) => Effect.as(Effect.logWarning("delivery retry failed", { error: error.message }), 0)))

  const sweep = Effect.gen(function*() {
    const at = yield* Clock.currentTimeMillis
    const due = yield* store.listDue(at, {
      heartbeatTimeoutMs: config.heartbeatTimeoutMs,
      dispatchTimeoutMs: config.dispatchTimeoutMs,
      limit: 500
    }).pipe(
      Effect.catch((error) => Effect.as(Effect.logError("listing due tasks failed", { error: error.message }), []))
    )
    const outcomes = yield* Effect.forEach(due, (task) => sweepTask(task, at), { concurrency: 8 })
    const queuesPromoted = yield* promoteQueues
    yield* artifacts.purge
    const orphansDestroyed = yield* sweepOrphans(at)
    const deliveriesRetried = yield* retryDeliveries(at)
    const count = (kind: Outcome) => outcomes.filter((o) => o === kind).length
    const report: SweepReport = {
      checked: due.length,
      timedOut: count("timedOut"),
      redispatched: count("redispatched"),
      failed: count("failed"),
      orphansDestroyed,
      deliveriesRetried,
      queuesPromoted
    }
    if (due.length > 0 || orphansDestroyed > 0 || deliveriesRetried > 0) yield* Effect.logInfo("sweep", report)
    return report
  }).pipe(Effect.withSpan("Watchdog.sweep"))

  return Watchdog.of({ sweep })
})

/** `Watchdog` as a layer (`make`). */
export const layer: Layer.Layer<
  Watchdog,
  never,
  | TaskStore
  | MachineProvisioner
  | MachineAccess
  | TaskLifecycle
  | Dispatcher
  | Commands
  | Audit
  | PorterConfig
  | Queue
  | Artifacts
> = Layer.effect(Watchdog, make)

/** Sweeps every `intervalMs` for as long as the layer lives (Node hosts). */
export const layerTimer = (intervalMs: number): Layer.Layer<never, never, Watchdog> =>
  Layer.effectDiscard(
    Effect.gen(function*() {
      const watchdog = yield* Watchdog
      yield* Effect.forkScoped(watchdog.sweep.pipe(Effect.repeat(Schedule.spaced(intervalMs)), Effect.asVoid))
    })
  )

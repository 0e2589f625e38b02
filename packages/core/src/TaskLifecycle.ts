/**
 * TaskLifecycle: a task from its machine's first callback to its end. It applies the runner's callbacks (the task
 * token is checked before they get here, by the HTTP API), ends tasks (succeeded, failed, timed out, cancelled)
 * in one conditional write each, tells the issue, and destroys the machine.
 *
 * Guarantees: a terminal task never changes again (the store's conditional writes); every end is shown on the issue
 * before the machine goes (destroying the machine may end the very runner whose callback is being answered); after
 * every end the repository's queue is looked at (`Queue.promote`, in the background): a slot may have come free.
 *
 * Checkpoints: a running task that is cancelled or goes over its budget is first asked to stop (`stop`: the state it
 * will end in is recorded, its deadline moved to now). Its runner hears it in the answer to its next callback
 * (`stop`), as it does once the deadline passed, stops its agent and hands over the work so far — a change set marked
 * `checkpoint` (Porter commits it and opens a draft pull request) — then sends `completed` with `checkpoint`, which
 * ends the task in the recorded state (timed out at a deadline). The watchdog ends it anyway once
 * `PorterConfig.checkpointGraceMs` has passed.
 */
import { Clock, Context, Effect, Layer, Option } from "effect"
import * as AdminApi from "./AdminApi.ts"
import { Audit } from "./Audit.ts"
import { Background } from "./Background.ts"
import type { CallbackEvent, CompletedEvent } from "./Callback.ts"
import { IllegalTransition, type StoreError, type TaskNotFound } from "./Errors.ts"
import type { TaskId } from "./Ids.ts"
import { MachineAccess } from "./MachineAccess.ts"
import * as Messages from "./Messages.ts"
import { emptyTotals, toUsage, UsageStore } from "./ModelUsage.ts"
import { PorterConfig } from "./PorterConfig.ts"
import { Queue } from "./Queue.ts"
import type { IssueRef } from "./Repo.ts"
import { StatusComments } from "./StatusComments.ts"
import { holdsSlot, isTerminal, type Task, type TaskPatch, type TaskState } from "./Task.ts"
import { TaskStore } from "./TaskStore.ts"

/** Porter's answer to a callback: accepted or not, the task's state, and whether the machine should stop. */
export interface CallbackAnswer {
  /** `false` when the task had already ended: the runner should stop calling. */
  readonly accepted: boolean
  readonly state: TaskState
  readonly message?: string
  /** The runner must stop its agent and hand over the work so far: why. */
  readonly stop?: string
}

/** A task from its machine's first callback to its end. */
export class TaskLifecycle extends Context.Service<TaskLifecycle, {
  /**
   * Ends an active task in terminal state `to` with `patch`; tells the issue; destroys its machine. `None` when the
   * task had already ended (or does not exist): nothing is done then.
   */
  readonly finish: (task: Task, to: TaskState, patch: TaskPatch) => Effect.Effect<Option.Option<Task>, StoreError>
  /** Applies one runner callback for an authenticated task. */
  readonly callback: (
    taskId: TaskId,
    event: CallbackEvent
  ) => Effect.Effect<CallbackAnswer, TaskNotFound | StoreError>
  /**
   * Stops an active task in terminal state `to` for `reason`: a running task with a machine is asked to hand over its
   * work first (it ends when it has, or when its grace period is over); any other ends now. `None` when it had ended.
   */
  readonly stop: (task: Task, to: TaskState, reason: string) => Effect.Effect<Option.Option<Task>, StoreError>
  /** Cancels one task; `false` when it had already ended. */
  readonly cancelTask: (taskId: TaskId, reason: string) => Effect.Effect<boolean, TaskNotFound | StoreError>
  /** Cancels the active tasks of an issue (those `only` accepts, when given); returns how many. */
  readonly cancelIssue: (
    issue: IssueRef,
    reason: string,
    only?: (task: Task) => boolean
  ) => Effect.Effect<number, StoreError>
  /** The task as the API shows it (no log tail, no secrets). */
  readonly view: (taskId: TaskId) => Effect.Effect<AdminApi.TaskView, TaskNotFound | StoreError>
}>()("@porter/core/TaskLifecycle") {}

/**
 * What a `completed` callback does to the task. `pushed` counts only when Porter itself published the change set (the
 * task has its pull request); a machine's claim alone fails the task.
 */
const completion = (task: Task, event: CompletedEvent): { readonly to: TaskState; readonly patch: TaskPatch } => {
  if (event.checkpoint === true || task.stopState !== undefined) {
    // The runner stopped its agent and handed over what it had (or the agent ended by itself after the task was asked
    // to stop, over its budget say): the task ends the way it was stopped.
    return {
      to: task.stopState ?? "timed_out",
      patch: {
        outcome: event.outcome === "pushed" && task.prUrl === undefined ? "error" : event.outcome,
        reason: task.reason ?? `the time limit (${Messages.formatDuration(task.timeoutMs)}) ran out`,
        ...(event.summary !== undefined ? { summary: event.summary } : {}),
        ...(event.usage !== undefined ? { usage: event.usage } : {}),
        ...(event.logTail !== undefined ? { logTail: event.logTail } : {})
      }
    }
  }
  const unpublished = event.outcome === "pushed" && task.prUrl === undefined
  const succeeded = (event.outcome === "pushed" && !unpublished) || event.outcome === "no_changes"
  const reason = unpublished
    ? "the machine reported changes, but none were published through Porter"
    : event.outcome === "agent_failed"
    ? `the agent exited with an error${event.error ? ` (${event.error})` : ""}`
    : event.outcome === "error"
    ? event.error ?? "the runner hit an error"
    : undefined
  return {
    to: succeeded ? "succeeded" : "failed",
    patch: {
      outcome: unpublished ? "error" : event.outcome,
      ...(event.summary !== undefined ? { summary: event.summary } : {}),
      ...(event.usage !== undefined ? { usage: event.usage } : {}),
      ...(event.logTail !== undefined ? { logTail: event.logTail } : {}),
      ...(reason !== undefined ? { reason } : {})
    }
  }
}

const endedState = (error: unknown): TaskState | undefined =>
  error instanceof IllegalTransition && isTerminal(error.from as TaskState) ? (error.from as TaskState) : undefined

/** The `TaskLifecycle` service, built from its dependencies in the context. */
export const make = Effect.gen(function*() {
  const store = yield* TaskStore
  const status = yield* StatusComments
  const machines = yield* MachineAccess
  const audit = yield* Audit
  const usage = yield* UsageStore
  const queue = yield* Queue
  const background = yield* Background
  const config = yield* PorterConfig
  const now = Clock.currentTimeMillis

  const finish = Effect.fn("TaskLifecycle.finish")(function*(task: Task, to: TaskState, patch: TaskPatch) {
    // The report's tokens and cost are the gateway's, for every agent (the agent's own figures keep its duration and
    // turns); an agent that made no call through the gateway keeps what it reported.
    const metered = yield* usage.task(task.id).pipe(Effect.orElseSucceed(() => emptyTotals))
    const ending = metered.calls > 0 ? { ...patch, usage: toUsage(metered, patch.usage ?? task.usage) } : patch
    const moved = yield* store.transition(task.id, to, yield* now, ending).pipe(
      Effect.map(Option.some),
      Effect.catchTags({
        IllegalTransition: () => Effect.succeed(Option.none<Task>()),
        TaskNotFound: () => Effect.succeed(Option.none<Task>())
      })
    )
    if (Option.isNone(moved)) return moved
    yield* status.show(moved.value)
    if (moved.value.machineId !== undefined) yield* machines.destroy(moved.value, moved.value.machineId)
    yield* background.run(queue.promote(moved.value.repo.fullName))
    return moved
  })

  /** Why the runner must stop and hand over its work (asked to stop, or past its deadline), if it must. */
  const stopSignal = (task: Task, at: number): { readonly stop?: string } =>
    task.stopState !== undefined
      ? { stop: task.reason ?? task.stopState }
      : at >= task.deadlineAt && task.state === "running"
      ? { stop: `the time limit (${Messages.formatDuration(task.timeoutMs)}) ran out` }
      : {}

  const callback = Effect.fn("TaskLifecycle.callback")(function*(taskId: TaskId, event: CallbackEvent) {
    const task = yield* store.get(taskId)
    yield* audit.record(task.id, "callback", event.type === "completed" ? `completed: ${event.outcome}` : event.type)
    if (task.isTerminal) {
      return { accepted: false, state: task.state, message: `task is already ${task.state}` } satisfies CallbackAnswer
    }
    // A task without a slot (waiting for approval or queued) has no machine: none is asked for before it holds one,
    // so no runner calls for it, and whatever calls changes nothing. (Its `completed` with a failing outcome used to
    // end it.)
    if (!holdsSlot(task.state)) {
      return {
        accepted: false,
        state: task.state,
        message: `task has not started (${task.state}): it has no machine`
      } satisfies CallbackAnswer
    }
    const at = yield* now
    if (event.type === "completed") {
      const { patch, to } = completion(task, event)
      const ended = yield* finish(task, to, patch)
      if (Option.isSome(ended)) return { accepted: true, state: ended.value.state } satisfies CallbackAnswer
      const latest = yield* store.get(task.id)
      return {
        accepted: false,
        state: latest.state,
        message: `task is already ${latest.state}`
      } satisfies CallbackAnswer
    }
    if (task.state === "provisioning") {
      const moved = yield* store.transition(task.id, "running", at, { heartbeatAt: at }).pipe(
        Effect.map(Option.some),
        Effect.catchTag("IllegalTransition", () => Effect.succeed(Option.none<Task>()))
      )
      if (Option.isSome(moved)) {
        yield* status.show(moved.value)
        return { accepted: true, state: "running", ...stopSignal(moved.value, at) } satisfies CallbackAnswer
      }
      // Moved meanwhile: running already (a second `started`), or ended (then the runner must stop).
      const latest = yield* store.get(task.id)
      return latest.isTerminal
        ? { accepted: false, state: latest.state, message: `task is already ${latest.state}` } satisfies CallbackAnswer
        : { accepted: true, state: latest.state } satisfies CallbackAnswer
    }
    const updated = yield* store.update(task.id, { heartbeatAt: at }, at).pipe(Effect.result)
    return updated._tag === "Success"
      ? { accepted: true, state: updated.success.state, ...stopSignal(updated.success, at) } satisfies CallbackAnswer
      : { accepted: false, state: endedState(updated.failure) ?? task.state, message: "task has ended" }
  })

  const stop = Effect.fn("TaskLifecycle.stop")(function*(task: Task, to: TaskState, reason: string) {
    // Only a running machine has work to hand over (and none is waited for without a grace period).
    if (task.state !== "running" || task.machineId === undefined || config.checkpointGraceMs <= 0) {
      return yield* finish(task, to, { reason })
    }
    if (task.stopState !== undefined) return Option.some(task)
    const at = yield* now
    const stopping = yield* store.update(
      task.id,
      { stopState: to as NonNullable<Task["stopState"]>, reason, deadlineAt: at },
      at,
      ["running"]
    ).pipe(
      Effect.map(Option.some),
      Effect.catchTags({
        IllegalTransition: () => Effect.succeed(Option.none<Task>()),
        TaskNotFound: () => Effect.succeed(Option.none<Task>())
      })
    )
    if (Option.isNone(stopping)) {
      // It left `running` meanwhile: ended (nothing to do), or still provisioning (then it ends now).
      const latest = yield* store.find(task.id)
      return Option.isSome(latest) && !latest.value.isTerminal ? yield* finish(latest.value, to, { reason }) : stopping
    }
    yield* audit.record(task.id, "stop", `${to}: ${reason}`.slice(0, 500))
    yield* status.show(stopping.value)
    return stopping
  })

  const cancelTask = Effect.fn("TaskLifecycle.cancelTask")(function*(taskId: TaskId, reason: string) {
    const task = yield* store.get(taskId)
    if (task.isTerminal) return false
    return Option.isSome(yield* stop(task, "cancelled", reason))
  })

  const cancelIssue = Effect.fn("TaskLifecycle.cancelIssue")(
    function*(issue: IssueRef, reason: string, only?: (task: Task) => boolean) {
      const active = yield* store.listActive({ repo: issue.repo.fullName, issueNumber: issue.number })
      let count = 0
      for (const task of active) {
        if (only !== undefined && !only(task)) continue
        if (Option.isSome(yield* stop(task, "cancelled", reason))) count++
      }
      return count
    }
  )

  const view = (taskId: TaskId) => Effect.map(store.get(taskId), AdminApi.toView)

  return TaskLifecycle.of({ finish, stop, callback, cancelTask, cancelIssue, view })
})

/** `TaskLifecycle` as a layer (`make`). */
export const layer: Layer.Layer<
  TaskLifecycle,
  never,
  TaskStore | StatusComments | MachineAccess | Audit | Queue | Background | UsageStore | PorterConfig
> = Layer.effect(TaskLifecycle, make)

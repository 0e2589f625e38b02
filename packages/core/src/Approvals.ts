/**
 * Approvals: outsiders' requests that wait for someone with write access. Where the repository's setting `outsiders`
 * is `approval`, a request from someone without write access is recorded `awaiting_approval` (its status comment says
 * who may approve it and shows what it asks). A writer's `approve` queues the issue's waiting requests (the task runs
 * for its requester, when a slot frees up), `deny` cancels them; nobody's answer within `approvalTimeoutMs` (24 h) and
 * the watchdog cancels them. Commands checks who answers: an outsider's `approve` or `deny` does nothing.
 */
import { Clock, Context, Effect, Layer, Option } from "effect"
import { Audit } from "./Audit.ts"
import type { StoreError } from "./Errors.ts"
import { PorterConfig } from "./PorterConfig.ts"
import { Queue } from "./Queue.ts"
import type { Actor, IssueRef } from "./Repo.ts"
import { StatusComments } from "./StatusComments.ts"
import type { Task } from "./Task.ts"
import { TaskLifecycle } from "./TaskLifecycle.ts"
import { TaskStore } from "./TaskStore.ts"

export class Approvals extends Context.Service<Approvals, {
  /** Queues the issue's requests awaiting approval, approved by `by`; how many. */
  readonly approve: (issue: IssueRef, by: Actor) => Effect.Effect<number, StoreError>
  /** Cancels the issue's requests awaiting approval, denied by `by`; how many. */
  readonly deny: (issue: IssueRef, by: Actor) => Effect.Effect<number, StoreError>
}>()("@porter/core/Approvals") {}

export const make = Effect.gen(function*() {
  const store = yield* TaskStore
  const status = yield* StatusComments
  const lifecycle = yield* TaskLifecycle
  const queue = yield* Queue
  const audit = yield* Audit
  const config = yield* PorterConfig

  const awaiting = (issue: IssueRef) =>
    Effect.map(
      store.listActive({ repo: issue.repo.fullName, issueNumber: issue.number }),
      (tasks) => tasks.filter((task) => task.state === "awaiting_approval").reverse()
    )

  const approveOne = (task: Task, by: Actor, at: number) =>
    store.transition(task.id, "queued", at, { approvedBy: by.login, deadlineAt: at + config.queueTimeoutMs }).pipe(
      Effect.map(Option.some),
      // Denied, expired or approved by someone else meanwhile.
      Effect.catchTags({
        IllegalTransition: () => Effect.succeed(Option.none<Task>()),
        TaskNotFound: () => Effect.succeed(Option.none<Task>())
      }),
      Effect.tap((moved) =>
        Option.isNone(moved) ? Effect.void : Effect.andThen(
          audit.record(task.id, "approved", `by @${by.login}`),
          status.show(moved.value)
        )
      )
    )

  const approve = Effect.fn("Approvals.approve")(function*(issue: IssueRef, by: Actor) {
    const tasks = yield* awaiting(issue)
    const at = yield* Clock.currentTimeMillis
    const approved: Array<Task> = []
    for (const task of tasks) {
      const moved = yield* approveOne(task, by, at)
      if (Option.isSome(moved)) approved.push(moved.value)
    }
    if (approved.length === 0) return 0
    // Approved requests wait in the queue like any other: they start now if a slot is free, else say where they stand.
    yield* queue.promote(issue.repo.fullName)
    for (const task of approved) {
      const latest = yield* store.find(task.id)
      if (Option.isSome(latest) && latest.value.state === "queued") {
        yield* status.show(latest.value, { queuePosition: yield* queue.position(latest.value) })
      }
    }
    return approved.length
  })

  const deny = Effect.fn("Approvals.deny")(function*(issue: IssueRef, by: Actor) {
    const tasks = yield* awaiting(issue)
    let count = 0
    for (const task of tasks) {
      const ended = yield* lifecycle.finish(task, "cancelled", { reason: `denied by @${by.login}` })
      if (Option.isSome(ended)) count++
    }
    return count
  })

  return Approvals.of({ approve, deny })
})

export const layer: Layer.Layer<
  Approvals,
  never,
  TaskStore | StatusComments | TaskLifecycle | Queue | Audit | PorterConfig
> = Layer.effect(Approvals, make)

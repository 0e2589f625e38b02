/**
 * Queue: a request over the active-task limits waits instead of being refused. Every task is recorded `queued`
 * (approved first when an outsider asked); it is admitted — `TaskStore.admit`: `queued → provisioning` only while its
 * repository and its requester hold fewer slots than their limits and no task of its issue holds one, in one atomic
 * write — and then started (its machine requested). Admissions are tried when a task is recorded, when a task ends
 * (`TaskLifecycle.finish`: its slot may be free), after an approval, and on every sweep.
 *
 * Order: a repository's queued tasks are tried oldest first. One left waiting for the repository's slots ends the pass
 * (the tasks behind it wait behind it); one waiting for its requester's slots, or for the run on its issue, holds back
 * only the later tasks of that requester or issue.
 *
 * Starting an admitted task is the Dispatcher's job, and the Dispatcher ends tasks through `TaskLifecycle`, which
 * admits the next ones: the one cycle of the lifecycle (a task's end frees the slot the next one takes). The Dispatcher
 * closes it by registering how tasks start (`startWith`) when it is built; until then nothing is admitted here (the
 * sweep admits with a Dispatcher at hand).
 */
import { Clock, Context, Effect, Layer, Ref } from "effect"
import type { StoreError } from "./Errors.ts"
import { Settings } from "./Settings.ts"
import type { Task } from "./Task.ts"
import { TaskStore } from "./TaskStore.ts"

/** How many queued tasks of one repository one pass looks at. */
const PASS = 100

/** A request over the active-task limits waits instead of being refused. */
export class Queue extends Context.Service<Queue, {
  /**
   * Admits what fits of a repository's queue, oldest first; the tasks admitted (not yet started). With `own` (a task
   * just recorded), that task alone is tried first, in one write, in case nothing is queued before it.
   */
  readonly admit: (repo: string, own?: Task) => Effect.Effect<ReadonlyArray<Task>, StoreError>
  /** Admits what fits and starts it (once a starter is registered). Never fails: a failed pass is logged. */
  readonly promote: (repo: string) => Effect.Effect<void>
  /** A queued task's place in its repository's queue, from 1. */
  readonly position: (task: Task) => Effect.Effect<number, StoreError>
  /** Registers how an admitted task starts (the Dispatcher, when it is built). */
  readonly startWith: (start: (task: Task) => Effect.Effect<void>) => Effect.Effect<void>
}>()("@porter/core/Queue") {}

/** The `Queue` service, built from its dependencies in the context. */
export const make = Effect.gen(function*() {
  const store = yield* TaskStore
  const settings = yield* Settings
  const starter = yield* Ref.make<((task: Task) => Effect.Effect<void>) | undefined>(undefined)

  const limitsOf = (repo: string, installationId: number | undefined) =>
    Effect.map(settings.forRepo(repo, installationId), (repoSettings) => ({
      perRepository: repoSettings.maxActivePerRepo,
      perUser: repoSettings.maxActivePerUser
    }))

  const admit = Effect.fn("Queue.admit")(function*(repo: string, own?: Task) {
    if (own !== undefined) {
      // The common case, an empty queue and a free slot: one write.
      const limits = yield* limitsOf(repo, own.installationId)
      const result = yield* store.admit(own, limits, yield* Clock.currentTimeMillis)
      if (result._tag === "Admitted") return [result.task]
      if (result._tag === "NotQueued" || (result._tag === "Waiting" && result.scope === "repository")) return []
    }
    const queued = yield* store.listQueued(repo, PASS)
    if (queued.length === 0) return []
    const limits = yield* limitsOf(repo, queued[0]!.installationId)
    const heldUsers = new Set<number>()
    const heldIssues = new Set<number>()
    const admitted: Array<Task> = []
    for (const task of queued) {
      if (heldUsers.has(task.requestedBy.id) || heldIssues.has(task.issueNumber)) continue
      const result = yield* store.admit(task, limits, yield* Clock.currentTimeMillis)
      if (result._tag === "Admitted") admitted.push(result.task)
      else if (result._tag === "Waiting") {
        // The repository is full, or an older task that could start waits (its own admission comes first).
        if (result.scope === "repository" || result.scope === "queue") break
        if (result.scope === "user") heldUsers.add(task.requestedBy.id)
        else if (result.scope === "issue") heldIssues.add(task.issueNumber)
      }
    }
    return admitted
  })

  const promote = (repo: string) =>
    Effect.gen(function*() {
      const start = yield* Ref.get(starter)
      if (start === undefined) return
      const admitted = yield* admit(repo)
      yield* Effect.forEach(admitted, start, { concurrency: "unbounded", discard: true })
    }).pipe(
      Effect.catch((error) => Effect.logWarning("admitting queued tasks failed", { repo, error: error.message }))
    )

  const position = Effect.fn("Queue.position")(function*(task: Task) {
    const queued = yield* store.listQueued(task.repo.fullName, 1_000)
    const index = queued.findIndex((t) => t.id === task.id)
    return index < 0 ? queued.length + 1 : index + 1
  })

  return Queue.of({ admit, promote, position, startWith: (start) => Ref.set(starter, start) })
})

/** `Queue` as a layer (`make`). */
export const layer: Layer.Layer<Queue, never, TaskStore | Settings> = Layer.effect(Queue, make)

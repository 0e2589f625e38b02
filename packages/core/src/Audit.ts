/**
 * Audit: the orchestration's lines in a task's audit trail (`TaskStore.appendEvent`). The store writes the rest
 * itself (creation, transitions, dispatch attempts, machines). A line that cannot be written is logged, never fatal:
 * the audit trail must not change what happens to a task.
 */
import { Clock, Context, Effect, Layer } from "effect"
import type { TaskId } from "./Ids.ts"
import { TaskEvent, TaskStore } from "./TaskStore.ts"

/** The orchestration's lines in a task's audit trail (`TaskStore.appendEvent`). */
export class Audit extends Context.Service<Audit, {
  /** Appends `kind` (and `detail`) to the task's trail, stamped with the clock's time. Never fails. */
  readonly record: (taskId: TaskId, kind: string, detail?: string) => Effect.Effect<void>
}>()("@porter/core/Audit") {}

/** The `Audit` service, built from its dependencies in the context. */
export const make = Effect.gen(function*() {
  const store = yield* TaskStore
  return Audit.of({
    record: (taskId, kind, detail) =>
      Clock.currentTimeMillis.pipe(
        Effect.flatMap((at) =>
          store.appendEvent(new TaskEvent({ taskId, at, kind, ...(detail !== undefined ? { detail } : {}) }))
        ),
        Effect.catch((error) => Effect.logWarning("audit trail write failed", { taskId, kind, error: error.message }))
      )
  })
})

/** `Audit` as a layer (`make`). */
export const layer: Layer.Layer<Audit, never, TaskStore> = Layer.effect(Audit, make)

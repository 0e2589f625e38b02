/**
 * A dispatch's status updates, made in order while the dispatch goes on: the first comment (when the dispatch makes
 * it), then one update per state. `settled` waits for all of them. The machine is asked for only once `commented`:
 * its first callback edits that comment.
 */
import { Effect, Fiber, Option } from "effect"
import type { StatusComments } from "./StatusComments.ts"
import { Task } from "./Task.ts"

export interface StatusLine {
  /** The first status comment exists (or could not be made). */
  readonly commented: Effect.Effect<void>
  readonly settled: Effect.Effect<void>
  /** Starts showing `task` once the updates before it are done; does not wait. */
  readonly show: (task: Task) => Effect.Effect<void>
  /** `task` with the status comment's id, once known. */
  readonly withComment: (task: Task) => Task
}

/** The line of `initial`'s updates; `first` is the fiber making its first comment, when one is being made. */
export const make = (
  status: StatusComments["Service"],
  first: Fiber.Fiber<Option.Option<number>> | undefined,
  initial: Task
): StatusLine => {
  let commentId = initial.statusCommentId
  const commented = first === undefined ? Effect.void : Effect.asVoid(
    Effect.tap(Fiber.join(first), (id) => Effect.sync(() => (commentId = Option.getOrUndefined(id) ?? commentId)))
  )
  let settled: Effect.Effect<void> = commented
  const withComment = (task: Task) =>
    commentId === undefined || task.statusCommentId === commentId
      ? task
      : new Task({ ...task, statusCommentId: commentId })
  return {
    commented,
    settled: Effect.suspend(() => settled),
    withComment,
    show: (task) =>
      Effect.gen(function*() {
        const before = settled
        const fiber = yield* Effect.forkChild(
          Effect.andThen(before, Effect.suspend(() => status.show(withComment(task))))
        )
        settled = Effect.asVoid(Fiber.join(fiber))
      })
  }
}

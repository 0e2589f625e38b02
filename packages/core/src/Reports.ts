/**
 * Reports: what Porter writes on GitHub besides status comments (replies, reactions), and the rule every write there
 * follows: retried with backoff (`PorterConfig.reportRetry`), then logged, noted in the task's audit trail, and
 * dropped. A report never changes a task's outcome.
 */
import { Context, Effect, Layer, Option, Schedule } from "effect"
import { Audit } from "./Audit.ts"
import type { TaskId } from "./Ids.ts"
import { PorterConfig } from "./PorterConfig.ts"
import type { IssueRef } from "./Repo.ts"
import { type CommentTarget, type Reaction, Reporter } from "./Reporter.ts"

/**
 * What Porter writes on GitHub besides status comments (replies, reactions), and the rule every write there follows:
 * retried with backoff (`PorterConfig.reportRetry`), then logged, noted in the task's audit trail, and dropped.
 */
export class Reports extends Context.Service<Reports, {
  /** Runs `report` with retries; `None` when it failed every time (logged, and audited for a task). */
  readonly attempt: <A>(
    what: string,
    taskId: TaskId | undefined,
    report: Effect.Effect<A, { readonly message: string }>
  ) => Effect.Effect<Option.Option<A>>
  /** A comment on the issue that is not a task's status (help, refusals, listings). */
  readonly reply: (issue: IssueRef, body: string) => Effect.Effect<void>
  /** A reaction on the comment that asked for a task. */
  readonly react: (issue: IssueRef, target: CommentTarget, reaction: Reaction, taskId?: TaskId) => Effect.Effect<void>
}>()("@porter/core/Reports") {}

/** The `Reports` service, built from its dependencies in the context. */
export const make = Effect.gen(function*() {
  const reporter = yield* Reporter
  const audit = yield* Audit
  const { reportRetry } = yield* PorterConfig
  const schedule = Schedule.max([
    Schedule.jittered(Schedule.exponential(reportRetry.baseDelayMs)),
    Schedule.recurs(reportRetry.times)
  ])

  const attempt = <A>(
    what: string,
    taskId: TaskId | undefined,
    report: Effect.Effect<A, { readonly message: string }>
  ) =>
    report.pipe(
      Effect.retry(schedule),
      Effect.map(Option.some),
      Effect.catch((error) =>
        Effect.gen(function*() {
          yield* Effect.logWarning(`report failed: ${what}`, { taskId, error: error.message })
          if (taskId !== undefined) yield* audit.record(taskId, "report_failed", `${what}: ${error.message}`)
          return Option.none<A>()
        })
      )
    )

  return Reports.of({
    attempt,
    reply: (issue, body) => Effect.asVoid(attempt("reply", undefined, reporter.comment(issue, body))),
    react: (issue, target, reaction, taskId) =>
      Effect.asVoid(attempt("reaction", taskId, reporter.react(issue, target, reaction)))
  })
})

/** `Reports` as a layer (`make`). */
export const layer: Layer.Layer<Reports, never, Reporter | Audit | PorterConfig> = Layer.effect(Reports, make)

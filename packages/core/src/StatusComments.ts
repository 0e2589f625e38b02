/**
 * StatusComments: each task's one status comment on its issue, edited in place as the task moves (words from
 * `Messages.status`), and the optional `porter:<state>` labels. Callers show a task once per state: the comment
 * is written once for each state the task passes through.
 */
import { Clock, Context, Effect, Layer, Option } from "effect"
import { AgentCatalog } from "./AgentCatalog.ts"
import * as Messages from "./Messages.ts"
import { IssueRef } from "./Repo.ts"
import { Reporter } from "./Reporter.ts"
import { Reports } from "./Reports.ts"
import { Settings } from "./Settings.ts"
import { type Task, TaskState } from "./Task.ts"
import { TaskStore } from "./TaskStore.ts"

/**
 * Each task's one status comment on its issue, edited in place as the task moves (words from `Messages.status`), and
 * the optional `porter:<state>` labels.
 */
export class StatusComments extends Context.Service<StatusComments, {
  /**
   * Shows `task` as given in its status comment: edits the comment `task.statusCommentId` names, or creates one
   * (and records its id on the task). The comment's id, or `None` when none could be made. Never fails.
   */
  readonly show: (task: Task, options?: ShowOptions) => Effect.Effect<Option.Option<number>>
}>()("@porter/core/StatusComments") {}

/** What the comment may add to the task's own fields. */
export interface ShowOptions {
  /** The task's model budget, USD, shown beside its spend while it runs. */
  readonly capUsd?: number
  /** A queued task's place in its repository's queue (from 1), when it waits for a slot. */
  readonly queuePosition?: number
}

/** The issue (or pull request) a task reports to. */
export const issueOf = (task: Task): IssueRef => new IssueRef({ repo: task.repo, number: task.issueNumber })

const labels = TaskState.literals.map((state) => `porter:${state}`)

/** The `StatusComments` service, built from its dependencies in the context. */
export const make = Effect.gen(function*() {
  const catalog = yield* AgentCatalog
  const reporter = yield* Reporter
  const reports = yield* Reports
  const settings = yield* Settings
  const store = yield* TaskStore

  const show = Effect.fn("StatusComments.show")(
    function*(task: Task, options?: ShowOptions) {
      const repoSettings = yield* settings.forRepo(task.repo.fullName, task.installationId)
      const agent = Option.getOrUndefined(catalog.resolve(task.agent))
      const body = Messages.status(task, yield* Clock.currentTimeMillis, repoSettings.mentionName, {
        ...options,
        unmetered: agent?.keysOnMachine === true
      })
      const issue = issueOf(task)
      let commentId = Option.fromNullishOr(task.statusCommentId)
      if (Option.isSome(commentId)) {
        yield* reports.attempt("edit status comment", task.id, reporter.editComment(issue, commentId.value, body))
      } else {
        commentId = yield* reports.attempt("create status comment", task.id, reporter.comment(issue, body))
        if (Option.isSome(commentId)) {
          yield* store.update(
            task.id,
            { statusCommentId: commentId.value },
            yield* Clock.currentTimeMillis,
            TaskState.literals
          )
            .pipe(Effect.ignore)
        }
      }
      if (repoSettings.stateLabels) {
        const label = `porter:${task.state}`
        yield* reports.attempt(
          "labels",
          task.id,
          reporter.label(issue, { add: [label], remove: labels.filter((l) => l !== label) })
        )
      }
      return commentId
    },
    (effect) =>
      Effect.catch(
        effect,
        (error) => Effect.as(Effect.logWarning("status update failed", { error: error.message }), Option.none<number>())
      )
  )

  return StatusComments.of({ show })
})

/** `StatusComments` as a layer (`make`). */
export const layer: Layer.Layer<StatusComments, never, AgentCatalog | Reporter | Reports | Settings | TaskStore> = Layer
  .effect(
    StatusComments,
    make
  )

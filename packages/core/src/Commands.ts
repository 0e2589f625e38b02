/**
 * Commands: what Porter does with a claimed delivery. A comment addressed to Porter is checked (the repository's
 * deny and allow lists, then the commenter's permission) and answered: `help`, `status`, `cancel` and `retry` get a
 * reply; a run goes to the Dispatcher. A closed issue cancels its active tasks. The delivery is then marked handled;
 * one whose handling never finishes is handled again by the watchdog.
 */
import { Clock, Context, Effect, Layer } from "effect"
import { AgentCatalog } from "./AgentCatalog.ts"
import { Authorizer } from "./Authorizer.ts"
import { Run } from "./Command.ts"
import { CommandParser } from "./CommandParser.ts"
import { Dispatcher } from "./Dispatcher.ts"
import type { CommentCreated, IncomingEvent } from "./Event.ts"
import * as Messages from "./Messages.ts"
import { IssueRef } from "./Repo.ts"
import { Reports } from "./Reports.ts"
import { type RepoSettings, Settings } from "./Settings.ts"
import { TaskLifecycle } from "./TaskLifecycle.ts"
import { TaskStore } from "./TaskStore.ts"

export class Commands extends Context.Service<Commands, {
  /** Acts on a claimed delivery, then marks it handled. Never fails: problems are logged and the sweep retries. */
  readonly handle: (event: IncomingEvent, receivedAt: number) => Effect.Effect<void>
}>()("@porter/core/Commands") {}

type Permission = { readonly allowed: true } | { readonly allowed: false; readonly reason: string }

export const make = Effect.gen(function*() {
  const store = yield* TaskStore
  const settingsService = yield* Settings
  const authorizer = yield* Authorizer
  const catalog = yield* AgentCatalog
  const parser = yield* CommandParser
  const reports = yield* Reports
  const dispatcher = yield* Dispatcher
  const lifecycle = yield* TaskLifecycle

  /** The repository's lists first (no GitHub call for a denied login), then the commenter's permission. */
  const authorize = (event: CommentCreated, settings: RepoSettings): Effect.Effect<Permission> => {
    const login = event.author.login.toLowerCase()
    if (settings.deniedUsers.some((u) => u.toLowerCase() === login)) {
      return Effect.succeed({ allowed: false, reason: "you are on this repository's deny list" })
    }
    if (settings.allowedUsers.length > 0 && !settings.allowedUsers.some((u) => u.toLowerCase() === login)) {
      return Effect.succeed({ allowed: false, reason: "you are not on this repository's allow list" })
    }
    return authorizer.authorize(event.repo, event.author, event.installationId).pipe(
      Effect.map((decision): Permission => decision.allowed ? { allowed: true } : decision),
      Effect.catchTag("AuthorizationError", (error) =>
        Effect.succeed<Permission>({
          allowed: false,
          reason: `Porter could not check your permission (${error.message})`
        }))
    )
  }

  const onComment = Effect.fn("Commands.onComment")(function*(event: CommentCreated, receivedAt: number) {
    const settings = yield* settingsService.forRepo(event.repo.fullName, event.installationId)
    const parsed = parser.parse(event.body, settings)
    if (parsed._tag === "NotForPorter") return
    const issue = new IssueRef({ repo: event.repo, number: event.issueNumber })
    const permission = yield* authorize(event, settings)
    if (!permission.allowed) return yield* reports.reply(issue, Messages.refused(event.author.login, permission.reason))
    switch (parsed._tag) {
      case "Problem":
        return yield* reports.reply(issue, Messages.problem(parsed.message))
      case "Help":
        return yield* reports.reply(issue, Messages.help(settings, catalog.list))
      case "Status": {
        const tasks = yield* store.listByIssue(event.repo.fullName, event.issueNumber, 20)
        return yield* reports.reply(issue, Messages.statusList(tasks, yield* Clock.currentTimeMillis))
      }
      case "Cancel": {
        const count = yield* lifecycle.cancelIssue(issue, `cancelled by @${event.author.login}`)
        return yield* reports.reply(issue, count === 0 ? Messages.nothingToCancel() : Messages.cancelled(count))
      }
      case "Retry": {
        const [latest] = yield* store.listByIssue(event.repo.fullName, event.issueNumber, 1)
        if (latest === undefined) return yield* reports.reply(issue, Messages.nothingToRetry())
        if (!latest.isTerminal) {
          return yield* reports.reply(
            issue,
            Messages.problem(
              `Task \`${latest.id}\` is still ${latest.state}; \`@${settings.mentionName} cancel\` it first.`
            )
          )
        }
        const run = new Run({
          agent: latest.agent,
          instructions: latest.instructions,
          timeoutMs: latest.timeoutMs,
          ...(latest.model !== undefined ? { model: latest.model } : {})
        })
        return yield* dispatcher.start({ event, run, settings, receivedAt, salt: "retry" })
      }
      case "Run":
        return yield* dispatcher.start({ event, run: parsed, settings, receivedAt, salt: "" })
    }
  })

  const handle = Effect.fn("Commands.handle")(
    function*(event: IncomingEvent, receivedAt: number) {
      yield* Effect.annotateCurrentSpan({ deliveryId: event.deliveryId, event: event._tag })
      if (event._tag === "CommentCreated") yield* onComment(event, receivedAt)
      else {
        yield* lifecycle.cancelIssue(
          new IssueRef({ repo: event.repo, number: event.issueNumber }),
          `the issue was closed by @${event.actor.login}`
        )
      }
      yield* store.completeDelivery(event.deliveryId, yield* Clock.currentTimeMillis)
    },
    (effect, event) =>
      Effect.catchCause(
        effect,
        (cause) =>
          Effect.logError("handling a delivery failed; the sweep will retry it", {
            deliveryId: event.deliveryId,
            cause
          })
      )
  )

  return Commands.of({ handle })
})

export const layer: Layer.Layer<
  Commands,
  never,
  TaskStore | Settings | Authorizer | AgentCatalog | CommandParser | Reports | Dispatcher | TaskLifecycle
> = Layer.effect(Commands, make)

/**
 * Commands: what Porter does with a claimed delivery. A comment addressed to Porter is checked (the repository's
 * deny and allow lists, then the commenter's permission) and answered: `help`, `status`, `cancel` and `retry` get a
 * reply, `approve` and `deny` answer outsiders' requests (`Approvals`); a run (or a question) goes to the Dispatcher
 * (`fix-ci` once `CiFeedback` found failing checks to fix). Failed checks on a Porter branch go to `CiFeedback`.
 *
 * Someone without write access is refused politely — at most once per person and issue an hour — unless the
 * repository's setting `outsiders` is `approval`: then their run is recorded to wait for a writer's approval (their
 * other commands are still refused, and their `approve` or `deny` does nothing). A closed issue cancels the active
 * tasks its closer may cancel: all of them for someone with write access, else only the closer's own. The delivery is
 * then marked handled; one whose handling never finishes is handled again by the watchdog.
 */
import { Clock, Context, Effect, Layer, Option } from "effect"
import { AgentCatalog } from "./AgentCatalog.ts"
import { Approvals } from "./Approvals.ts"
import { Authorizer } from "./Authorizer.ts"
import * as Budgets from "./Budgets.ts"
import { CiFeedback } from "./CiFeedback.ts"
import { CONTINUE_INSTRUCTIONS, Run } from "./Command.ts"
import { CommandParser } from "./CommandParser.ts"
import { Dispatcher, type RunRequest } from "./Dispatcher.ts"
import type { CommentCreated, IncomingEvent, IssueClosed } from "./Event.ts"
import { issueOfBranch } from "./MachineRequest.ts"
import * as Messages from "./Messages.ts"
import { UsageStore } from "./ModelUsage.ts"
import { IssueRef } from "./Repo.ts"
import { Reports } from "./Reports.ts"
import { type RepoSettings, Settings } from "./Settings.ts"
import { TaskLifecycle } from "./TaskLifecycle.ts"
import { TaskStore } from "./TaskStore.ts"

/** How long after refusing someone on an issue Porter stays quiet to them there. */
export const REFUSAL_QUIET_MS = 60 * 60_000

/** What Porter does with a claimed delivery. */
export class Commands extends Context.Service<Commands, {
  /** Acts on a claimed delivery, then marks it handled. Never fails: problems are logged and the sweep retries. */
  readonly handle: (event: IncomingEvent, receivedAt: number) => Effect.Effect<void>
}>()("@porter/core/Commands") {}

type Permission =
  | { readonly allowed: true }
  /** `outsider`: refused for lacking write access (not for a list, nor a failed check). */
  | { readonly allowed: false; readonly reason: string; readonly outsider: boolean }

/** The `Commands` service, built from its dependencies in the context. */
export const make = Effect.gen(function*() {
  const store = yield* TaskStore
  const settingsService = yield* Settings
  const authorizer = yield* Authorizer
  const catalog = yield* AgentCatalog
  const parser = yield* CommandParser
  const reports = yield* Reports
  const dispatcher = yield* Dispatcher
  const lifecycle = yield* TaskLifecycle
  const approvals = yield* Approvals
  const usage = yield* UsageStore
  const ci = yield* CiFeedback

  /** Starts a request, unless its repository's or requester's monthly budget is spent: then the reply says which. */
  const start = Effect.fnUntraced(function*(request: RunRequest) {
    const { event } = request
    const who = { repo: event.repo.fullName, login: event.author.login, userId: event.author.id }
    const spent = yield* Budgets.monthlyRefusal(usage, request.settings, who, yield* Clock.currentTimeMillis)
    if (spent !== undefined) {
      return yield* reports.reply(
        new IssueRef({ repo: event.repo, number: event.issueNumber }),
        Messages.problem(spent)
      )
    }
    return yield* dispatcher.start(request)
  })

  /** The repository's lists first (no GitHub call for a denied login), then the commenter's permission. */
  const authorize = (event: CommentCreated, settings: RepoSettings): Effect.Effect<Permission> => {
    const login = event.author.login.toLowerCase()
    if (settings.deniedUsers.some((u) => u.toLowerCase() === login)) {
      return Effect.succeed({ allowed: false, reason: "you are on this repository's deny list", outsider: false })
    }
    if (settings.allowedUsers.length > 0 && !settings.allowedUsers.some((u) => u.toLowerCase() === login)) {
      return Effect.succeed({ allowed: false, reason: "you are not on this repository's allow list", outsider: false })
    }
    return authorizer.authorize(event.repo, event.author, event.installationId).pipe(
      Effect.map((decision): Permission =>
        decision.allowed ? { allowed: true } : { allowed: false, reason: decision.reason, outsider: true }
      ),
      Effect.catchTag("AuthorizationError", (error) =>
        Effect.succeed<Permission>({
          allowed: false,
          reason: `Porter could not check your permission (${error.message})`,
          outsider: false
        }))
    )
  }

  /** A refusal, unless this person was refused on this issue within the quiet period. */
  const refuse = Effect.fnUntraced(function*(event: CommentCreated, issue: IssueRef, reason: string) {
    const key = `refused:${event.repo.fullName.toLowerCase()}#${event.issueNumber}:${event.author.id}`
    if (yield* store.claimNotice(key, yield* Clock.currentTimeMillis, REFUSAL_QUIET_MS)) {
      yield* reports.reply(issue, Messages.refused(event.author.login, reason))
    }
  })

  /** A closed issue: its closer may cancel their own tasks, and every task when they have write access. */
  const onClosed = Effect.fn("Commands.onClosed")(function*(event: IssueClosed) {
    const issue = new IssueRef({ repo: event.repo, number: event.issueNumber })
    const active = yield* store.listActive({ repo: event.repo.fullName, issueNumber: event.issueNumber })
    if (active.length === 0) return
    const others = active.some((task) => task.requestedBy.id !== event.actor.id)
    const writer = others && !event.actor.isBot
      ? yield* authorizer.authorize(event.repo, event.actor, event.installationId).pipe(
        Effect.map((decision) => decision.allowed),
        Effect.orElseSucceed(() => false)
      )
      : false
    yield* lifecycle.cancelIssue(
      issue,
      `the issue was closed by @${event.actor.login}`,
      (task) => writer || task.requestedBy.id === event.actor.id
    )
  })

  /**
   * The task `@porter continue` picks up: the latest of the issue or pull request; on a pull request Porter opened for
   * an issue's task (its branch `porter/<issue>-<task>`), the latest task of that issue that worked on the branch.
   */
  const continuable = Effect.fnUntraced(function*(event: CommentCreated) {
    const [latest] = yield* store.listByIssue(event.repo.fullName, event.issueNumber, 1)
    const head = event.pullRequest?.headBranch
    const origin = head === undefined ? undefined : issueOfBranch(head)
    if (origin === undefined) return latest
    const earlier = yield* store.listByIssue(event.repo.fullName, origin, 20)
    const onBranch = earlier.find((task) => task.branch === head)
    return latest !== undefined && (onBranch === undefined || latest.createdAt > onBranch.createdAt) ? latest : onBranch
  })

  const onComment = Effect.fn("Commands.onComment")(function*(event: CommentCreated, receivedAt: number) {
    const settings = yield* settingsService.forRepo(event.repo.fullName, event.installationId)
    const parsed = parser.parse(event.body, settings)
    if (parsed._tag === "NotForPorter") return
    const issue = new IssueRef({ repo: event.repo, number: event.issueNumber })
    const permission = yield* authorize(event, settings)
    if (!permission.allowed) {
      // An outsider's approval counts for nothing, and says nothing.
      if (parsed._tag === "Approve" || parsed._tag === "Deny") return
      if (parsed._tag === "Run" && permission.outsider && settings.outsiders === "approval") {
        return yield* start({ event, run: parsed, settings, receivedAt, salt: "", awaitingApproval: true })
      }
      return yield* refuse(event, issue, permission.reason)
    }
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
      case "Approve":
      case "Deny": {
        const count = parsed._tag === "Approve"
          ? yield* approvals.approve(issue, event.author)
          : yield* approvals.deny(issue, event.author)
        return yield* reports.reply(
          issue,
          count === 0
            ? Messages.nothingAwaitingApproval()
            : Messages.approvalsDone(parsed._tag === "Approve" ? "approved" : "denied", count)
        )
      }
      case "Continue": {
        const latest = yield* continuable(event)
        if (latest === undefined) return yield* reports.reply(issue, Messages.nothingToContinue())
        if (!latest.isTerminal) {
          return yield* reports.reply(
            issue,
            Messages.problem(
              `Task \`${latest.id}\` is still ${latest.state}; \`@${settings.mentionName} cancel\` it first (its work so ` +
                "far is handed over), then continue."
            )
          )
        }
        const run = new Run({
          agent: latest.agent,
          instructions: parsed.instructions.length > 0 ? parsed.instructions : CONTINUE_INSTRUCTIONS,
          timeoutMs: latest.timeoutMs,
          ...(latest.model !== undefined ? { model: latest.model } : {}),
          // A question's continuation is a question too (read-only).
          ...(latest.mode === "ask" ? { ask: true } : {}),
          ...Option.match(Option.fromNullishOr(yield* usage.budget(latest.id)), {
            onNone: () => ({}),
            onSome: (budgetUsd) => ({ budgetUsd })
          })
        })
        return yield* start({ event, run, settings, receivedAt, salt: "", continues: latest })
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
          ...(latest.model !== undefined ? { model: latest.model } : {}),
          ...(latest.mode === "ask" ? { ask: true } : latest.mode === "fix_ci" ? { fixCi: true } : {}),
          ...Option.match(Option.fromNullishOr(yield* usage.budget(latest.id)), {
            onNone: () => ({}),
            onSome: (budgetUsd) => ({ budgetUsd })
          })
        })
        return yield* start({ event, run, settings, receivedAt, salt: "retry" })
      }
      case "Run": {
        const refused = parsed.fixCi === true ? yield* ci.refusal(event) : undefined
        if (refused !== undefined) return yield* reports.reply(issue, Messages.problem(refused))
        return yield* start({ event, run: parsed, settings, receivedAt, salt: "" })
      }
    }
  })

  const handle = Effect.fn("Commands.handle")(
    function*(event: IncomingEvent, receivedAt: number) {
      yield* Effect.annotateCurrentSpan({ deliveryId: event.deliveryId, event: event._tag })
      if (event._tag === "CommentCreated") yield* onComment(event, receivedAt)
      else if (event._tag === "ChecksFailed") yield* ci.onChecksFailed(event, receivedAt)
      else yield* onClosed(event)
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

/** `Commands` as a layer (`make`). */
export const layer: Layer.Layer<
  Commands,
  never,
  | TaskStore
  | Settings
  | Authorizer
  | AgentCatalog
  | CommandParser
  | Reports
  | Dispatcher
  | TaskLifecycle
  | Approvals
  | UsageStore
  | CiFeedback
> = Layer.effect(Commands, make)

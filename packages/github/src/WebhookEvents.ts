/**
 * GitHub webhook payloads, decoded with Schema — only the fields Porter uses — and normalized into
 * core's `IncomingEvent`:
 *
 * | `X-GitHub-Event`                | action    | becomes                                       |
 * |---------------------------------|-----------|-----------------------------------------------|
 * | `issue_comment`                 | `created` | `CommentCreated` (`isPullRequest` on PRs)     |
 * | `pull_request_review_comment`   | `created` | `CommentCreated` (kind `review_comment`)      |
 * | `issues`                        | `closed`  | `IssueClosed`                                 |
 * | `pull_request`                  | `closed`  | `IssueClosed` (a PR is an issue)              |
 * | `check_suite`, `workflow_run`   | `completed` | `ChecksFailed` when it failed on a PR's branch |
 * | `ping`, `installation*`         | any       | `Ignored`                                     |
 * | anything else                   |           | `Ignored`                                     |
 *
 * Comments by bots (`sender.type === "Bot"`, `[bot]` logins, which includes Porter's own App) and
 * comments carrying Porter's marker (Porter writing as a personal token) are `Ignored`.
 *
 * @since 0.1.0
 */
import { CiLogs, Event, Ids, Messages, Repo, WebhookIntake } from "@porter/core"
import { Effect, Result, Schema } from "effect"

const User = Schema.Struct({
  login: Schema.String,
  id: Schema.Int,
  type: Schema.optional(Schema.String)
})

const Repository = Schema.Struct({
  name: Schema.String,
  owner: Schema.Struct({ login: Schema.String }),
  default_branch: Schema.optional(Schema.String)
})

const Installation = Schema.optional(Schema.NullOr(Schema.Struct({ id: Schema.Int })))

const Comment = Schema.Struct({
  id: Schema.Int,
  body: Schema.NullOr(Schema.String),
  user: Schema.NullOr(User)
})

/** `issue_comment` with action `created`. */
export const IssueCommentCreated = Schema.Struct({
  action: Schema.Literal("created"),
  issue: Schema.Struct({
    number: Schema.Int,
    title: Schema.String,
    body: Schema.optional(Schema.NullOr(Schema.String)),
    state: Schema.String,
    pull_request: Schema.optional(Schema.NullOr(Schema.Unknown))
  }),
  comment: Comment,
  repository: Repository,
  sender: User,
  installation: Installation
})

const Branch = Schema.Struct({
  ref: Schema.String,
  repo: Schema.optional(Schema.NullOr(Schema.Struct({ full_name: Schema.String })))
})

/** `pull_request_review_comment` with action `created`: a comment on a line of a pull request's diff. */
export const ReviewCommentCreated = Schema.Struct({
  action: Schema.Literal("created"),
  comment: Comment,
  pull_request: Schema.Struct({
    number: Schema.Int,
    title: Schema.String,
    body: Schema.optional(Schema.NullOr(Schema.String)),
    state: Schema.String,
    head: Branch,
    base: Schema.Struct({ ref: Schema.String })
  }),
  repository: Repository,
  sender: User,
  installation: Installation
})

/** `issues` or `pull_request` with action `closed`. */
export const Closed = Schema.Struct({
  action: Schema.Literal("closed"),
  issue: Schema.optional(Schema.Struct({ number: Schema.Int })),
  pull_request: Schema.optional(Schema.Struct({ number: Schema.Int })),
  repository: Repository,
  sender: User,
  installation: Installation
})

const PullRequests = Schema.Array(Schema.Struct({
  number: Schema.Int,
  head: Schema.Struct({ ref: Schema.String }),
  base: Schema.Struct({ repo: Schema.Struct({ id: Schema.Int }) })
}))

const RepositoryWithId = Schema.Struct({ ...Repository.fields, id: Schema.Int })

/** `check_suite` with action `completed`. */
export const CheckSuiteCompleted = Schema.Struct({
  action: Schema.Literal("completed"),
  check_suite: Schema.Struct({
    id: Schema.Int,
    head_branch: Schema.NullOr(Schema.String),
    head_sha: Schema.String,
    conclusion: Schema.NullOr(Schema.String),
    app: Schema.optional(Schema.NullOr(Schema.Struct({ name: Schema.optional(Schema.String) }))),
    pull_requests: PullRequests
  }),
  repository: RepositoryWithId,
  installation: Installation
})

/** `workflow_run` with action `completed`. */
export const WorkflowRunCompleted = Schema.Struct({
  action: Schema.Literal("completed"),
  workflow_run: Schema.Struct({
    name: Schema.optional(Schema.NullOr(Schema.String)),
    check_suite_id: Schema.Int,
    head_branch: Schema.NullOr(Schema.String),
    head_sha: Schema.String,
    conclusion: Schema.NullOr(Schema.String),
    pull_requests: PullRequests
  }),
  repository: RepositoryWithId,
  installation: Installation
})

const Action = Schema.Struct({ action: Schema.optional(Schema.String) })

/** Why a payload was not turned into an event (short; becomes the 400 answer). */
export class UndecodablePayload extends Schema.TaggedError<UndecodablePayload>()("UndecodablePayload", {
  message: Schema.String
}) {}

const shortReason = (error: { readonly message: string }) => {
  const first = error.message.split("\n").slice(0, 2).join(" ").replace(/\s+/g, " ").trim()
  return first.length > 160 ? `${first.slice(0, 160)}…` : first
}

// Built once per schema, not per delivery; synchronous (the payload schemas have no effects), so a delivery is
// decoded without a fiber step per field.
const decoder = <A>(schema: Schema.Decoder<A>) => {
  const run = Schema.decodeUnknownResult(schema)
  return (event: string, payload: unknown): A => {
    const result = run(payload)
    if (Result.isFailure(result)) {
      throw new UndecodablePayload({ message: `${event} payload: ${shortReason(result.failure)}` })
    }
    return result.success
  }
}
const decodeAction = decoder(Action)
const decodeIssueComment = decoder(IssueCommentCreated)
const decodeReviewComment = decoder(ReviewCommentCreated)
const decodeClosed = decoder(Closed)
const decodeCheckSuite = decoder(CheckSuiteCompleted)
const decodeWorkflowRun = decoder(WorkflowRunCompleted)

/**
 * A completed check suite or workflow run: `ChecksFailed` when it failed on a branch with a pull request of this
 * repository (GitHub lists only those), else `Ignored`.
 */
const checksFailed = (
  source: "check_suite" | "workflow_run",
  delivery: Ids.DeliveryId,
  p: typeof CheckSuiteCompleted.Type | typeof WorkflowRunCompleted.Type,
  run: {
    readonly id: number
    readonly name: string
    readonly head_branch: string | null
    readonly head_sha: string
    readonly conclusion: string | null
    readonly pull_requests: typeof PullRequests.Type
  }
): Event.IncomingEvent | WebhookIntake.Ignored => {
  if (!CiLogs.isFailing(run.conclusion ?? undefined)) {
    return ignored(`${source} ended ${run.conclusion ?? "without a conclusion"}`)
  }
  if (run.head_branch === null) return ignored(`${source} not on a branch`)
  const pulls = run.pull_requests.filter((pr) => pr.base.repo.id === p.repository.id && pr.head.ref === run.head_branch)
  if (pulls.length === 0) return ignored(`${source} on a branch without a pull request`)
  const repo = repoOf(p.repository)
  return make(`${source} payload`, () =>
    new Event.ChecksFailed({
      deliveryId: delivery,
      ...(p.installation ? { installationId: p.installation.id } : {}),
      repo,
      source,
      checkSuiteId: run.id,
      name: run.name,
      conclusion: run.conclusion!,
      headBranch: run.head_branch!,
      headSha: run.head_sha,
      pullRequests: pulls.map((pr) => pr.number)
    }))
}

/** The `action` field: read directly when it is a string or absent (always, from GitHub); decoded otherwise. */
const actionOf = (event: string, payload: object) => {
  const action = (payload as { readonly action?: unknown }).action
  return typeof action === "string" || action === undefined ? action : decodeAction(event, payload).action
}

/** `build()`, or `UndecodablePayload` thrown with the reason (a constructor's check failed). */
const make = <A>(what: string, build: () => A): A => {
  try {
    return build()
  } catch (error) {
    throw new UndecodablePayload({
      message: `${what}: ${shortReason(error instanceof Error ? error : { message: String(error) })}`
    })
  }
}

const repoOf = (repository: typeof Repository.Type) =>
  make("repository", () => new Repo.RepoRef({ owner: repository.owner.login, name: repository.name }))

const actorOf = (user: typeof User.Type) =>
  new Repo.Actor({ login: user.login, id: user.id, type: user.type ?? "User" })

const isBot = (user: typeof User.Type) => user.type === "Bot" || user.login.endsWith("[bot]")

const ignored = (reason: string) => new WebhookIntake.Ignored({ reason })

type Comment = typeof Comment.Type

/** Bot and self comments never trigger anything. */
const commentIgnored = (comment: Comment, sender: typeof User.Type): WebhookIntake.Ignored | undefined => {
  if (isBot(sender) || (comment.user !== null && isBot(comment.user))) return ignored("comment by a bot")
  if ((comment.body ?? "").includes(Messages.MARKER_PREFIX)) return ignored("comment by Porter")
  return undefined
}

/** Throws `UndecodablePayload`. */
const decodeDelivery = (
  event: string,
  deliveryId: string,
  payload: unknown
): Event.IncomingEvent | WebhookIntake.Ignored => {
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) {
    throw new UndecodablePayload({ message: "payload is not a JSON object" })
  }
  const delivery = make("X-GitHub-Delivery", () => Ids.DeliveryId.make(deliveryId))
  if (event === "ping") return ignored("ping")
  if (event.startsWith("installation") || event === "github_app_authorization") {
    return ignored(`${event} events are not used`)
  }
  const action = actionOf(event, payload)
  switch (event) {
    case "issue_comment": {
      if (action !== "created") return ignored(`issue_comment.${action ?? "?"} is not used`)
      const p = decodeIssueComment(event, payload)
      const skip = commentIgnored(p.comment, p.sender)
      if (skip) return skip
      const repo = repoOf(p.repository)
      const author = p.comment.user ?? p.sender
      const isPullRequest = p.issue.pull_request !== undefined && p.issue.pull_request !== null
      return make("issue_comment payload", () =>
        new Event.CommentCreated({
          deliveryId: delivery,
          ...(p.installation ? { installationId: p.installation.id } : {}),
          repo,
          ...(p.repository.default_branch !== undefined ? { defaultBranch: p.repository.default_branch } : {}),
          issueNumber: p.issue.number,
          isPullRequest,
          issue: new Event.IssueSnapshot({ title: p.issue.title, body: p.issue.body ?? "", state: p.issue.state }),
          kind: "issue_comment",
          commentId: p.comment.id,
          body: p.comment.body ?? "",
          author: actorOf(author)
        }))
    }
    case "pull_request_review_comment": {
      if (action !== "created") return ignored(`pull_request_review_comment.${action ?? "?"} is not used`)
      const p = decodeReviewComment(event, payload)
      const skip = commentIgnored(p.comment, p.sender)
      if (skip) return skip
      const repo = repoOf(p.repository)
      const pr = p.pull_request
      const author = p.comment.user ?? p.sender
      return make("pull_request_review_comment payload", () =>
        new Event.CommentCreated({
          deliveryId: delivery,
          ...(p.installation ? { installationId: p.installation.id } : {}),
          repo,
          ...(p.repository.default_branch !== undefined ? { defaultBranch: p.repository.default_branch } : {}),
          issueNumber: pr.number,
          isPullRequest: true,
          issue: new Event.IssueSnapshot({ title: pr.title, body: pr.body ?? "", state: pr.state }),
          kind: "review_comment",
          commentId: p.comment.id,
          body: p.comment.body ?? "",
          author: actorOf(author),
          pullRequest: new Event.PullRequestRef({
            headBranch: pr.head.ref,
            ...(pr.head.repo ? { headRepoFullName: pr.head.repo.full_name } : {}),
            baseBranch: pr.base.ref
          })
        }))
    }
    case "issues":
    case "pull_request": {
      if (action !== "closed") return ignored(`${event}.${action ?? "?"} is not used`)
      const p = decodeClosed(event, payload)
      const number = (event === "issues" ? p.issue : p.pull_request)?.number
      if (number === undefined) {
        const missing = event === "issues" ? "issue" : "pull_request"
        throw new UndecodablePayload({ message: `${event} payload: missing ${missing}` })
      }
      const repo = repoOf(p.repository)
      return make(`${event} payload`, () =>
        new Event.IssueClosed({
          deliveryId: delivery,
          ...(p.installation ? { installationId: p.installation.id } : {}),
          repo,
          issueNumber: number,
          actor: actorOf(p.sender)
        }))
    }
    case "check_suite": {
      if (action !== "completed") return ignored(`check_suite.${action ?? "?"} is not used`)
      const p = decodeCheckSuite(event, payload)
      const suite = p.check_suite
      return checksFailed("check_suite", delivery, p, { ...suite, name: suite.app?.name ?? "checks" })
    }
    case "workflow_run": {
      if (action !== "completed") return ignored(`workflow_run.${action ?? "?"} is not used`)
      const p = decodeWorkflowRun(event, payload)
      const run = p.workflow_run
      return checksFailed("workflow_run", delivery, p, { ...run, id: run.check_suite_id, name: run.name ?? "workflow" })
    }
    default:
      return ignored(`${event} events are not used`)
  }
}

/**
 * A verified delivery → an event Porter acts on, or `Ignored`; synchronous (a `Result`).
 *
 * @category decoding
 * @since 0.1.0
 */
export const decodeIncomingEvent = (
  event: string,
  deliveryId: string,
  payload: unknown
): Result.Result<Event.IncomingEvent | WebhookIntake.Ignored, UndecodablePayload> => {
  try {
    return Result.succeed(decodeDelivery(event, deliveryId, payload))
  } catch (error) {
    if (error instanceof UndecodablePayload) return Result.fail(error)
    throw error
  }
}

/**
 * A verified delivery → an event Porter acts on, or `Ignored` (`decodeIncomingEvent` as an `Effect`).
 *
 * @category decoding
 * @since 0.1.0
 */
export const toIncomingEvent = (
  event: string,
  deliveryId: string,
  payload: unknown
): Effect.Effect<Event.IncomingEvent | WebhookIntake.Ignored, UndecodablePayload> =>
  Effect.suspend(() => Effect.fromResult(decodeIncomingEvent(event, deliveryId, payload)))

/** Fixtures: normalized events, actors, change sets, stored tasks and settings for tests. */
import { type ChangeSet, Event, type Ids, Repo, Settings, Task } from "@porter/core"
import { Base64 } from "effect/encoding"

let counter = 0
/** A fresh delivery id (`delivery-…`), unique within the process. */
export const deliveryId = (): Ids.DeliveryId =>
  `delivery-${Date.now().toString(36)}-${(++counter).toString(36)}` as Ids.DeliveryId

/** The repository `fullName` (default `octo-org/hello-world`) as a `RepoRef`. */
export const repo = (fullName = "octo-org/hello-world") => Repo.RepoRef.fromFullName(fullName)!

/** A GitHub user (default octocat, id 583231) as Porter's `Actor`. */
export const actor = (login = "octocat", id = 583231, type = "User") => new Repo.Actor({ login, id, type })

/**
 * A normalized `CommentCreated` event: `body` on issue 1 of `octo-org/hello-world` by octocat, unless told otherwise.
 */
export const commentCreated = (options: {
  readonly body: string
  readonly repo?: string
  readonly issueNumber?: number
  readonly author?: Repo.Actor
  readonly deliveryId?: Ids.DeliveryId
  readonly commentId?: number
  readonly installationId?: number
  readonly isPullRequest?: boolean
  readonly pullRequest?: Event.PullRequestRef
  readonly kind?: "issue_comment" | "review_comment"
  readonly title?: string
  readonly issueBody?: string
}) =>
  new Event.CommentCreated({
    deliveryId: options.deliveryId ?? deliveryId(),
    repo: repo(options.repo),
    defaultBranch: "main",
    issueNumber: options.issueNumber ?? 1,
    isPullRequest: options.isPullRequest ?? false,
    issue: new Event.IssueSnapshot({
      title: options.title ?? "Date parser rejects ISO weeks",
      body: options.issueBody ?? "Parsing `2026-W05` fails.",
      state: "open"
    }),
    kind: options.kind ?? "issue_comment",
    commentId: options.commentId ?? 1_000_000 + ++counter,
    body: options.body,
    author: options.author ?? actor(),
    ...(options.installationId !== undefined ? { installationId: options.installationId } : {}),
    ...(options.pullRequest !== undefined ? { pullRequest: options.pullRequest } : {})
  })

/** A normalized `IssueClosed` event (default issue 1 of `octo-org/hello-world`, closed by octocat). */
export const issueClosed = (options: { repo?: string; issueNumber?: number; actor?: Repo.Actor } = {}) =>
  new Event.IssueClosed({
    deliveryId: deliveryId(),
    repo: repo(options.repo),
    issueNumber: options.issueNumber ?? 1,
    actor: options.actor ?? actor()
  })

/**
 * A change set as a runner sends it (`POST /callbacks/tasks/:id/changes`): one commit on `base` writing `files`
 * (text) and deleting `deletes`.
 */
export const changeSet = (
  base: string,
  files: ReadonlyArray<{ readonly path: string; readonly content: string; readonly mode?: ChangeSet.FileMode }>,
  options: {
    readonly message?: string
    readonly deletes?: ReadonlyArray<string>
    readonly summary?: string
    readonly author?: { readonly name: string; readonly email: string }
  } = {}
): ChangeSet.ChangeSet => ({
  base,
  commits: [{
    message: options.message ?? "Make the change",
    author: { ...(options.author ?? { name: "Agent", email: "agent@example.com" }), date: "2026-03-02T09:00:00+00:00" },
    changes: [
      ...files.map((file) => ({
        _tag: "write" as const,
        path: file.path,
        mode: file.mode ?? "100644",
        content: Base64.encode(new TextEncoder().encode(file.content))
      })),
      ...(options.deletes ?? []).map((path) => ({ _tag: "delete" as const, path }))
    ]
  }],
  ...(options.summary !== undefined ? { summary: options.summary } : {})
})

const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"

/** A task id whose time part is `at` and whose tail is `n` (ids sort like their times, then `n`). */
export const taskIdAt = (at: number, n = 0): Ids.TaskId => {
  let time = ""
  let rest = Math.floor(at)
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[rest % 32] + time
    rest = Math.floor(rest / 32)
  }
  let tail = ""
  let m = n
  for (let i = 0; i < 16; i++) {
    tail = ALPHABET[m % 32] + tail
    m = Math.floor(m / 32)
  }
  return `task_${time}${tail}` as Ids.TaskId
}

/** What `storedTask` makes: a repository and a time, the rest defaulted. */
export interface StoredTaskSpec {
  readonly repo: string
  readonly at: number
  readonly n?: number
  readonly state?: Task.TaskState
  readonly agent?: string
  readonly login?: string
  readonly userId?: number
  readonly issueNumber?: number
  readonly installationId?: number
  readonly costUsd?: number
  readonly logTail?: string
}

/** A task as the dispatcher records it (id from `at` and `n`, so listings sort by them), for stores and pages. */
export const storedTask = (spec: StoredTaskSpec): Task.Task =>
  new Task.Task({
    id: taskIdAt(spec.at, spec.n ?? 0),
    state: spec.state ?? "queued",
    repo: Repo.RepoRef.fromFullName(spec.repo)!,
    issueNumber: spec.issueNumber ?? 1,
    isPullRequest: false,
    ...(spec.installationId !== undefined ? { installationId: spec.installationId } : {}),
    requestedBy: new Repo.Actor({ login: spec.login ?? "octocat", id: spec.userId ?? 583231, type: "User" }),
    triggerKind: "issue_comment",
    triggerCommentId: 1,
    deliveryId: `delivery-${spec.at}-${spec.n ?? 0}` as Ids.DeliveryId,
    agent: spec.agent ?? "script",
    instructions: "do it",
    timeoutMs: 60_000,
    createdAt: spec.at,
    updatedAt: spec.at,
    deadlineAt: spec.at + 60_000,
    dispatchAttempts: 0,
    ...(spec.costUsd !== undefined ? { usage: new Task.Usage({ costUsd: spec.costUsd, inputTokens: 1200 }) } : {}),
    ...(spec.logTail !== undefined ? { logTail: spec.logTail } : {})
  })

/**
 * Settings under which every Claude model call costs more than the task's budget: the first call of a task goes
 * through (its cost is known only once it ended), the next is refused "budget reached".
 */
export const budgetBelowOneCall = (): Settings.RepoSettings =>
  new Settings.RepoSettings({ ...Settings.defaults, taskBudgetUsd: 0.000001, prices: ["claude-sonnet-4=100/100"] })

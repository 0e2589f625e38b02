/**
 * NewTasks: the task a request makes, before it is recorded — what runs (the command's words over the repository's
 * `.github/porter.yml` over the deployment's settings: `RepoConfig.resolve`), where (a pull request's branch, or a new
 * one), and the state it starts in with the deadline of that wait: `awaiting_approval` for an outsider's request
 * (until it is approved, at most `approvalTimeoutMs`), else `queued` (until it is admitted, at most `queueTimeoutMs`;
 * its own timeout counts from its admission).
 */
import { Effect, Option } from "effect"
import type { Run } from "./Command.ts"
import type { CommentCreated } from "./Event.ts"
import type { TaskId } from "./Ids.ts"
import type { IssueReader } from "./IssueReader.ts"
import type { Actor } from "./Repo.ts"
import type { Resolved } from "./RepoConfig.ts"
import { Task } from "./Task.ts"

/** One comment is one request, whatever deliveries carry it (`Task.requestKey`). */
export const requestKey = (event: Pick<CommentCreated, "kind" | "commentId">): string =>
  `comment:${event.kind}:${event.commentId}`

/** Where the work goes: for a comment on a pull request, that PR's branch — unless it lives in a fork. */
export const branches = Effect.fnUntraced(function*(event: CommentCreated, reader: IssueReader["Service"]) {
  let headBranch = event.pullRequest?.headBranch
  let headRepo = event.pullRequest?.headRepoFullName
  let baseBranch = event.pullRequest?.baseBranch ?? event.defaultBranch
  if (event.isPullRequest && headBranch === undefined) {
    const pr = yield* reader.pullRequest(event.repo, event.issueNumber, event.installationId).pipe(Effect.option)
    if (Option.isSome(pr)) {
      headBranch = pr.value.headBranch
      headRepo = pr.value.headRepoFullName
      baseBranch = pr.value.baseBranch
    }
  }
  // A fork's branch cannot be pushed with this repository's token (and its name may well be this repository's
  // default branch): work on a new branch of this repository instead, based on the PR's base.
  if (headRepo !== undefined && headRepo.toLowerCase() !== event.repo.fullName.toLowerCase()) headBranch = undefined
  return { headBranch, baseBranch }
})

export interface Request {
  readonly id: TaskId
  readonly event: CommentCreated
  readonly run: Run
  readonly resolved: Resolved
  readonly baseBranch: string | undefined
  readonly headBranch: string | undefined
  /** An outsider asked: the task waits for approval. */
  readonly awaitingApproval: boolean
  readonly at: number
  /** How long the first state may last: the approval's or the queue's timeout. */
  readonly waitMs: number
  /** `@porter continue`: the task this one picks up from. */
  readonly continuesFrom?: TaskId
}

/** The task a comment's request makes. */
export const fromRequest = (request: Request): Task => {
  const { at, event, resolved, run } = request
  return new Task({
    id: request.id,
    state: request.awaitingApproval ? "awaiting_approval" : "queued",
    repo: event.repo,
    issueNumber: event.issueNumber,
    isPullRequest: event.isPullRequest,
    ...(event.installationId !== undefined ? { installationId: event.installationId } : {}),
    requestedBy: event.author,
    triggerKind: event.kind,
    triggerCommentId: event.commentId,
    deliveryId: event.deliveryId,
    agent: resolved.agent.name,
    ...(resolved.model !== undefined ? { model: resolved.model } : {}),
    instructions: run.instructions,
    ...(request.baseBranch !== undefined ? { baseBranch: request.baseBranch } : {}),
    ...(request.headBranch !== undefined ? { headBranch: request.headBranch } : {}),
    timeoutMs: resolved.timeoutMs,
    createdAt: at,
    updatedAt: at,
    deadlineAt: at + request.waitMs,
    dispatchAttempts: 0,
    ...(run.ask === true ? { mode: "ask" as const } : run.fixCi === true ? { mode: "fix_ci" as const } : {}),
    requestKey: requestKey(event),
    ...(run.notAnAgent !== undefined ? { notAnAgent: run.notAnAgent } : {}),
    ...(request.continuesFrom !== undefined ? { continuesFrom: request.continuesFrom } : {})
  })
}

/** An ended task run again for `by` (the admin API, the web app): same issue, agent, model, timeout, instructions. */
export const again = (previous: Task, by: Actor, id: TaskId, at: number, waitMs: number): Task =>
  new Task({
    id,
    state: "queued",
    repo: previous.repo,
    issueNumber: previous.issueNumber,
    isPullRequest: previous.isPullRequest,
    ...(previous.installationId !== undefined ? { installationId: previous.installationId } : {}),
    requestedBy: by,
    triggerKind: previous.triggerKind,
    triggerCommentId: previous.triggerCommentId,
    deliveryId: previous.deliveryId,
    agent: previous.agent,
    ...(previous.model !== undefined ? { model: previous.model } : {}),
    instructions: previous.instructions,
    ...(previous.baseBranch !== undefined ? { baseBranch: previous.baseBranch } : {}),
    ...(previous.headBranch !== undefined ? { headBranch: previous.headBranch } : {}),
    timeoutMs: previous.timeoutMs,
    createdAt: at,
    updatedAt: at,
    deadlineAt: at + waitMs,
    dispatchAttempts: 0,
    ...(previous.mode !== undefined ? { mode: previous.mode } : {})
  })

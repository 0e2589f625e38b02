/**
 * Incoming events, normalized from GitHub webhooks (see `@porter/github` for the decoding).
 * Only what Porter acts on; everything else is ignored at the edge.
 */
import { Schema } from "effect"
import { DeliveryId } from "./Ids.ts"
import { Actor, RepoRef } from "./Repo.ts"
import { TriggerKind } from "./Task.ts"

/** The issue as the event saw it: title, body, state. */
export class IssueSnapshot extends Schema.Class<IssueSnapshot>("@porter/core/IssueSnapshot")({
  title: Schema.String,
  body: Schema.String,
  state: Schema.String
}) {}

/** The pull request a comment was made on (head branch: where follow-up work goes). */
export class PullRequestRef extends Schema.Class<PullRequestRef>("@porter/core/PullRequestRef")({
  headBranch: Schema.String,
  headRepoFullName: Schema.optional(Schema.String),
  baseBranch: Schema.optional(Schema.String)
}) {}

/** A new comment on an issue, a pull request, or a line of a pull request's diff. */
export class CommentCreated extends Schema.TaggedClass<CommentCreated>()("CommentCreated", {
  deliveryId: DeliveryId,
  installationId: Schema.optional(Schema.Int),
  repo: RepoRef,
  defaultBranch: Schema.optional(Schema.String),
  issueNumber: Schema.Int,
  isPullRequest: Schema.Boolean,
  issue: IssueSnapshot,
  kind: TriggerKind,
  commentId: Schema.Int,
  body: Schema.String,
  author: Actor,
  /** Known from the payload for review comments; looked up for comments on a PR's conversation. */
  pullRequest: Schema.optional(PullRequestRef)
}) {}

/** An issue (or pull request) was closed: its active tasks are cancelled. */
export class IssueClosed extends Schema.TaggedClass<IssueClosed>()("IssueClosed", {
  deliveryId: DeliveryId,
  installationId: Schema.optional(Schema.Int),
  repo: RepoRef,
  issueNumber: Schema.Int,
  actor: Actor
}) {}

/**
 * A check suite (`check_suite`) or a workflow run (`workflow_run`, whose check suite it names) completed with a
 * failing conclusion on a branch with an open pull request of the same repository. Either event names the check
 * suite: GitHub Actions sends both for one run, and they count once (`CiFeedback`).
 */
export class ChecksFailed extends Schema.TaggedClass<ChecksFailed>()("ChecksFailed", {
  deliveryId: DeliveryId,
  installationId: Schema.optional(Schema.Int),
  repo: RepoRef,
  source: Schema.Literals(["check_suite", "workflow_run"]),
  checkSuiteId: Schema.Int,
  /** The workflow's name, or the checking App's. */
  name: Schema.String,
  /** `failure`, `timed_out` or `startup_failure` (`CiFeedback.FAILING`). */
  conclusion: Schema.String,
  headBranch: Schema.String,
  headSha: Schema.String,
  /** The open pull requests whose head is this branch (numbers). */
  pullRequests: Schema.Array(Schema.Int)
}) {}

/** An event Porter acts on: a comment, a closed issue or pull request, failed checks. */
export const IncomingEvent = Schema.Union([CommentCreated, IssueClosed, ChecksFailed])
/** An event Porter acts on: a comment, a closed issue or pull request, failed checks. */
export type IncomingEvent = typeof IncomingEvent.Type
/** `IncomingEvent` from its JSON text. */
export const IncomingEventFromJson = Schema.fromJsonString(IncomingEvent)

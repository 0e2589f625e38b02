/** IssueReader: the read side of GitHub that the prompt and PR follow-ups need. */
import { Context } from "effect"
import type { Effect } from "effect"
import type { ReportError } from "./Errors.ts"
import type { IssueSnapshot } from "./Event.ts"
import type { IssueRef, RepoRef } from "./Repo.ts"

export interface ThreadComment {
  readonly author: string
  readonly authorIsBot: boolean
  readonly body: string
  readonly createdAt: string
}

export interface PullRequestInfo {
  readonly headBranch: string
  readonly headRepoFullName: string
  readonly baseBranch: string
  readonly state: string
}

export class IssueReader extends Context.Service<IssueReader, {
  /** The issue (or pull request) itself: title, body, state. */
  readonly issue: (issue: IssueRef, installationId?: number) => Effect.Effect<IssueSnapshot, ReportError>
  /** The most recent `limit` comments of the conversation, oldest first. */
  readonly thread: (
    issue: IssueRef,
    limit: number,
    installationId?: number
  ) => Effect.Effect<ReadonlyArray<ThreadComment>, ReportError>
  readonly pullRequest: (
    repo: RepoRef,
    number: number,
    installationId?: number
  ) => Effect.Effect<PullRequestInfo, ReportError>
}>()("@porter/core/IssueReader") {}

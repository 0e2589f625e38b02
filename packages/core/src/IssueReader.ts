/** IssueReader: the read side of GitHub that the prompt, PR follow-ups and the repository's configuration need. */
import { Context } from "effect"
import type { Effect, Option } from "effect"
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
  /** A file's text on `ref` (the default branch when undefined); `None` when there is no such file (or branch). */
  readonly file: (
    repo: RepoRef,
    path: string,
    ref: string | undefined,
    installationId?: number
  ) => Effect.Effect<Option.Option<string>, ReportError>
}>()("@porter/core/IssueReader") {}

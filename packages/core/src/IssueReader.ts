/**
 * IssueReader: the read side of GitHub that the prompt, PR follow-ups, the repository's configuration and CI feedback
 * (check runs and their logs: the Checks and Actions APIs) need.
 */
import { Context } from "effect"
import type { Effect, Option } from "effect"
import type { ReportError } from "./Errors.ts"
import type { IssueSnapshot } from "./Event.ts"
import type { IssueRef, RepoRef } from "./Repo.ts"

/** A comment of an issue's thread, as the prompt shows it. */
export interface ThreadComment {
  readonly author: string
  readonly authorIsBot: boolean
  readonly body: string
  readonly createdAt: string
}

/** What Porter reads of a pull request: its branches, repositories and state. */
export interface PullRequestInfo {
  readonly headBranch: string
  readonly headRepoFullName: string
  readonly baseBranch: string
  readonly state: string
}

/** One check run (a GitHub Actions job is one too: same id), as CI feedback shows and reads it. */
export interface CheckRun {
  readonly id: number
  readonly name: string
  /** `queued`, `in_progress`, `completed`… */
  readonly status: string
  /** Set once completed: `success`, `failure`, `timed_out`, `cancelled`, `skipped`… */
  readonly conclusion: string | undefined
  /** The check's page on GitHub. */
  readonly url: string
  readonly headSha: string
  readonly checkSuiteId: number | undefined
  /** Made by GitHub Actions: its log is the job's (Actions API). */
  readonly actionsJob: boolean
  /** The check's own report (output title, summary and text): the log of a check that is not an Actions job. */
  readonly output: string
}

/** Which check runs: those of a commit (a branch or a SHA: its latest runs), or of one check suite. */
export type CheckTarget = { readonly ref: string } | { readonly checkSuiteId: number }

/**
 * The read side of GitHub that the prompt, PR follow-ups, the repository's configuration and CI feedback (check runs
 * and their logs: the Checks and Actions APIs) need.
 */
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
  /** The latest check runs of a commit or a check suite (at most 100). */
  readonly checkRuns: (
    repo: RepoRef,
    target: CheckTarget,
    installationId?: number
  ) => Effect.Effect<ReadonlyArray<CheckRun>, ReportError>
  /** A check run's log: an Actions job's log as GitHub serves it, else the check's own output. */
  readonly checkLog: (repo: RepoRef, run: CheckRun, installationId?: number) => Effect.Effect<string, ReportError>
}>()("@porter/core/IssueReader") {}

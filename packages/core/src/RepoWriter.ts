/**
 * RepoWriter: how Porter writes to a repository — the machine never does. Commits are made through the Git Data API
 * (blobs, trees on a base tree with inline content, commits), branches created or fast-forwarded, pull requests
 * opened. Adapters: GitHub (`@porter/github`, the installation token), in memory (`@porter/testing`).
 */
import { Context, Schema } from "effect"
import type { Effect, Option } from "effect"
import type { CommitToWrite, TreeEntry } from "./ChangeRules.ts"
import type { RepoRef } from "./Repo.ts"

/** GitHub refused or failed a write (or a read on the way to one). */
export class RepoWriteError extends Schema.TaggedError<RepoWriteError>()("RepoWriteError", {
  message: Schema.String,
  status: Schema.optional(Schema.Number)
}) {}

/** The branch moved since the machine cloned it: the new commits would not fast-forward it. */
export class NotFastForward extends Schema.TaggedError<NotFastForward>()("NotFastForward", {
  branch: Schema.String
}) {
  override get message(): string {
    return `${this.branch} moved on while the agent worked: its commits no longer follow the branch's head`
  }
}

/** A pull request Porter opened or found: its number and address. */
export interface PullRequestRef {
  readonly number: number
  readonly url: string
}

/** How Porter writes to a repository — the machine never does. */
export class RepoWriter extends Context.Service<RepoWriter, {
  /** The repository's default branch. */
  readonly defaultBranch: (repo: RepoRef, installationId?: number) => Effect.Effect<string, RepoWriteError>
  /** Blobs and links of a commit's tree, by path (`RepoWriteError` 404/422 when the commit is not the repository's). */
  readonly tree: (
    repo: RepoRef,
    commit: string,
    installationId?: number
  ) => Effect.Effect<ReadonlyMap<string, TreeEntry>, RepoWriteError>
  /** The commit a branch points at; `None` when there is no such branch. */
  readonly branchHead: (
    repo: RepoRef,
    branch: string,
    installationId?: number
  ) => Effect.Effect<Option.Option<string>, RepoWriteError>
  /** Writes `commits` one after the other on top of `base`; their SHAs, oldest first. Moves no branch. */
  readonly writeCommits: (
    repo: RepoRef,
    base: string,
    commits: ReadonlyArray<CommitToWrite>,
    installationId?: number
  ) => Effect.Effect<ReadonlyArray<string>, RepoWriteError>
  /**
   * Points `branch` at `sha`: creates it (`from: None`: it must not exist), or fast-forwards it from `from` (it must
   * still point there and `sha` must descend from it).
   */
  readonly moveBranch: (
    repo: RepoRef,
    branch: string,
    sha: string,
    from: Option.Option<string>,
    installationId?: number
  ) => Effect.Effect<void, RepoWriteError | NotFastForward>
  /** The open pull request from `head`, or a new one into `base` (a draft with `draft`: a checkpoint's work so far). */
  readonly pullRequest: (
    repo: RepoRef,
    request: {
      readonly head: string
      readonly base: string
      readonly title: string
      readonly body: string
      readonly draft?: boolean
    },
    installationId?: number
  ) => Effect.Effect<PullRequestRef, RepoWriteError>
}>()("@porter/core/RepoWriter") {}

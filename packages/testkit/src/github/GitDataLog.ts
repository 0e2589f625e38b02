/**
 * What was written through the Git Data API (blobs, trees, commits, references), in order, and how each
 * commit made through it is verified — so tests can tell a commit made through the API from one pushed
 * with git. Read with `Emulator.gitDataLog()` / `GET /_emulator/git-data`, and per pull request with
 * `Emulator.pullRequestCommits()` / `GET /_emulator/repos/{owner}/{repo}/pulls/{pull_number}/commits`.
 *
 * Commits made through the API with an installation token are signed by GitHub, which answers
 * `verification: { verified: true, reason: "valid" }` for them; the emulator has no signing key, so the
 * commit object itself carries no `gpgsig` (its `signature` is `null`; `payload` is the commit object).
 */
import type { Repo } from "./State.ts"

/** A write through the Git Data API (blobs, trees, commits, refs). */
export type GitDataOperation = "blob" | "tree" | "commit" | "ref.create" | "ref.update" | "ref.delete"

/** One Git Data API write, as `Emulator.gitDataLog` lists them (oldest first). */
export interface GitDataWrite {
  /** 1, 2, … in the order of the writes. */
  readonly seq: number
  /** ISO 8601 with milliseconds. */
  readonly at: string
  /** `owner/repo` */
  readonly repository: string
  readonly operation: GitDataOperation
  /** The object written; for references, the new value (the old one for `ref.delete`). */
  readonly sha: string
  /** `refs/…`, for reference writes. */
  readonly ref?: string | undefined
  /** The reference's value before `ref.update`. */
  readonly previousSha?: string | undefined
  /** `ref.update` with `force: true`. */
  readonly forced?: boolean | undefined
  /** The login of the caller (`<slug>[bot]` for installation tokens). */
  readonly actor: string
  readonly viaApp: boolean
  /** The installation whose token made the write. */
  readonly installationId?: number | undefined
}

export interface Verification {
  readonly verified: boolean
  readonly reason: string
  readonly signature: string | null
  readonly payload: string | null
  readonly verified_at: string | null
}

export const UNSIGNED: Verification = {
  verified: false,
  reason: "unsigned",
  signature: null,
  payload: null,
  verified_at: null
}

export const makeGitDataLog = (now: () => number) => {
  const writes: Array<GitDataWrite> = []
  const commits = new Map<string, Verification>()
  const key = (repo: Repo, sha: string) => `${repo.id}:${sha}`
  return {
    record: (repo: Repo, write: Omit<GitDataWrite, "seq" | "at" | "repository">): GitDataWrite => {
      const entry: GitDataWrite = {
        seq: writes.length + 1,
        at: new Date(now()).toISOString(),
        repository: `${repo.owner.login}/${repo.name}`,
        ...write
      }
      writes.push(entry)
      return entry
    },
    /** Remembers how a commit made through the API is verified (the first time it was made). */
    addCommit: (repo: Repo, sha: string, verification: Verification) => {
      if (!commits.has(key(repo, sha))) commits.set(key(repo, sha), verification)
    },
    /** Whether the commit was made through the Git Data API. */
    madeThroughApi: (repo: Repo, sha: string) => commits.has(key(repo, sha)),
    /** The commit's verification: what was recorded when it was made through the API, else unsigned. */
    verification: (repo: Repo, sha: string): Verification => commits.get(key(repo, sha)) ?? UNSIGNED,
    list: (): ReadonlyArray<GitDataWrite> => [...writes]
  }
}

export type GitDataLog = ReturnType<typeof makeGitDataLog>

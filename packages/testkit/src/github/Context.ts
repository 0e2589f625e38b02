/**
 * What every route handler shares: the state, the JSON representations, the webhook events, and
 * lookups that fail like GitHub (404 for what the caller cannot see).
 */
import { Effect } from "effect"
import type { Need } from "./Auth.ts"
import { authorize, READ_METADATA, roleOf } from "./Auth.ts"
import type { Checks } from "./Checks.ts"
import * as Git from "./Git.ts"
import type { GitDataLog, GitDataWrite } from "./GitDataLog.ts"
import * as GitObjects from "./GitObjects.ts"
import type { ApiRequest } from "./Http.ts"
import { ApiError, notFound } from "./Http.ts"
import type { Payloads, PullGit } from "./Payloads.ts"
import type { Account, Issue, Repo, State } from "./State.ts"
import { actorOf } from "./State.ts"
import type { Events, Webhooks } from "./Webhooks.ts"

export interface RouteContext {
  readonly state: State
  readonly payloads: Payloads
  readonly events: Events
  readonly webhooks: Webhooks
  /** Check suites, check runs, workflow runs and their jobs' logs (`Checks.ts`). */
  readonly checks: Checks
  /** What the Git Data API wrote, and how commits made through it are verified. */
  readonly gitData: GitDataLog
  readonly baseUrl: string
  /** What one `GET …/git/trees/{tree_sha}` answer lists at most before it is `truncated`. */
  readonly treeLimits: TreeLimits
}

/** What one tree listing holds before GitHub marks it `truncated`. */
export interface TreeLimits {
  /** Entries (GitHub: 100,000). */
  readonly entries: number
  /** Bytes of the entries' JSON (GitHub: 7 MB). */
  readonly bytes: number
}

/** GitHub's limits for one tree listing. */
export const GITHUB_TREE_LIMITS: TreeLimits = { entries: 100_000, bytes: 7 * 1024 * 1024 }

export const makeHelpers = (context: RouteContext) => {
  const { payloads, state } = context

  /** The repository of `{owner}/{repo}`, if the caller may do `need` on it. */
  const repoFor = (request: ApiRequest, need: Need = READ_METADATA) =>
    Effect.gen(function*() {
      const repo = state.repo(request.params["owner"] ?? "", request.params["repo"] ?? "")
      if (!repo) return yield* notFound()
      yield* authorize(state, request.principal, repo, need)
      return repo
    })

  const issueIn = (repo: Repo, number: string | undefined) => {
    const found = state.issue(repo, Number(number))
    return found ? Effect.succeed(found) : Effect.fail(notFound())
  }

  const pullIn = (repo: Repo, number: string | undefined) => {
    const found = state.issue(repo, Number(number))
    return found?.pull ? Effect.succeed(found) : Effect.fail(notFound())
  }

  /** The author of a write: the user, or the App's bot for installation tokens. */
  const actor = (request: ApiRequest): { readonly account: Account; readonly viaApp: boolean } => ({
    account: actorOf(request.principal) ?? state.admin,
    viaApp: request.principal._tag === "Installation"
  })

  const role = (request: ApiRequest, repo: Repo) => roleOf(state, request.principal, repo)

  const repoJson = (request: ApiRequest, repo: Repo) =>
    payloads.fullRepository(repo, request.principal._tag === "Anonymous" ? undefined : role(request, repo))

  /** Reads the pull request's branches from git (remembering the last shas for deleted branches). */
  const pullGit = (pr: Issue) =>
    Effect.gen(function*() {
      const data = pr.pull!
      const repo = pr.repo
      const head = (yield* Git.resolve(data.headRepo.gitDir, `refs/heads/${data.headRef}`)) ?? data.headSha
      const base = (yield* Git.resolve(repo.gitDir, `refs/heads/${data.baseRef}`)) ?? data.baseSha
      if (pr.state === "open" || data.headSha === "") {
        data.headSha = head
        data.baseSha = base
      }
      const mergeBase = head && base ? yield* Git.mergeBase(repo.gitDir, base, head) : undefined
      const files = mergeBase ? yield* Git.changes(repo.gitDir, mergeBase, data.headSha) : []
      const git: PullGit = {
        headSha: data.headSha,
        baseSha: data.baseSha,
        commits: mergeBase ? yield* Git.countCommits(repo.gitDir, `${mergeBase}..${data.headSha}`) : 0,
        additions: files.reduce((sum, file) => sum + file.additions, 0),
        deletions: files.reduce((sum, file) => sum + file.deletions, 0),
        changedFiles: files.length
      }
      return git
    })

  const pullJson = (pr: Issue) => Effect.map(pullGit(pr), (git) => payloads.pull(pr, git))

  /** `repoFor` for the Git Data API: a repository without branches is GitHub's 409 `Git Repository is empty.` */
  const gitRepoFor = (request: ApiRequest, need: Need) =>
    Effect.gen(function*() {
      const repo = yield* repoFor(request, need)
      if (!(yield* GitObjects.hasBranches(repo.gitDir))) {
        return yield* new ApiError({ status: 409, message: "Git Repository is empty." })
      }
      return repo
    })

  /** Records a Git Data API write, with who made it. */
  const recordGitData = (
    request: ApiRequest,
    repo: Repo,
    write: Omit<GitDataWrite, "seq" | "at" | "repository" | "actor" | "viaApp" | "installationId">
  ) =>
    context.gitData.record(repo, {
      ...write,
      actor: actor(request).account.login,
      viaApp: request.principal._tag === "Installation",
      installationId: request.principal._tag === "Installation" ? request.principal.token.installation.id : undefined
    })

  return { repoFor, issueIn, pullIn, actor, role, repoJson, pullGit, pullJson, gitRepoFor, recordGitData }
}

export type Helpers = ReturnType<typeof makeHelpers>

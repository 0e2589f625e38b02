/**
 * A pull request's commits: GitHub's `GET /repos/{owner}/{repo}/pulls/{pull_number}/commits` (oldest
 * first, at most 250, each with its `verification`), and the emulator's own view of them for tests
 * (`pullRequestCommits`): whether each was made through the Git Data API.
 */
import { Effect } from "effect"
import type { RouteContext } from "../Context.ts"
import { makeHelpers } from "../Context.ts"
import * as Git from "../Git.ts"
import type { GitPerson } from "../Git.ts"
import { jsonPage } from "../Http.ts"
import type { Route } from "../Http.ts"
import type { Issue } from "../State.ts"

/** One commit of a pull request, as `Emulator.pullRequestCommits()` shows it. */
export interface PullRequestCommit {
  readonly sha: string
  readonly message: string
  readonly author: GitPerson
  readonly committer: GitPerson
  /** Made through the Git Data API (`POST …/git/commits`), not pushed with git. */
  readonly viaGitDataApi: boolean
  readonly verified: boolean
  /** `valid` for commits GitHub signed, `unsigned`, … */
  readonly reason: string
}

const MAX_COMMITS = 250

export const makePullCommits = (context: RouteContext) => {
  const { gitData, payloads } = context
  const helpers = makeHelpers(context)

  /** The commits between the merge base and the head, oldest first. */
  const commitsOf = (pr: Issue) =>
    Effect.gen(function*() {
      const git = yield* helpers.pullGit(pr)
      if (!git.headSha) return []
      const base = git.baseSha ? yield* Git.mergeBase(pr.repo.gitDir, git.baseSha, git.headSha) : undefined
      const shas = yield* Git.revList(pr.repo.gitDir, base ? `${base}..${git.headSha}` : git.headSha)
      const infos = []
      for (const sha of shas.slice(0, MAX_COMMITS)) infos.push(yield* Git.commit(pr.repo.gitDir, sha))
      return infos
    })

  const view = (pr: Issue) =>
    Effect.map(commitsOf(pr), (infos) =>
      infos.map((info): PullRequestCommit => {
        const verification = gitData.verification(pr.repo, info.sha)
        return {
          sha: info.sha,
          message: info.message,
          author: info.author,
          committer: info.committer,
          viaGitDataApi: gitData.madeThroughApi(pr.repo, info.sha),
          verified: verification.verified,
          reason: verification.reason
        }
      }))

  const routes: ReadonlyArray<Route> = [
    {
      method: "GET",
      path: "/repos/{owner}/{repo}/pulls/{pull_number}/commits",
      handler: (request) =>
        Effect.gen(function*() {
          const repo = yield* helpers.repoFor(request, { role: "read", scope: "pull_requests", level: "read" })
          const pr = yield* helpers.pullIn(repo, request.params["pull_number"])
          const infos = yield* commitsOf(pr)
          return jsonPage(infos.map((info) => payloads.commit(repo, info)), request, context.baseUrl)
        })
    }
  ]

  return { view, routes }
}

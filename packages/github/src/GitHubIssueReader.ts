/**
 * GitHubIssueReader: core's `IssueReader` over the GitHub REST API — the last comments of a
 * conversation (oldest first; authors that are bots, and Porter's own comments, flagged), the issue itself (for
 * a task dispatched again, whose webhook is long gone), a pull request's head and base, and a file's text (the
 * contents API: `.github/porter.yml`, instruction files; a directory or a file that is not UTF-8 text reads as absent),
 * and for CI feedback a commit's or a check suite's latest check runs (Checks API, at most 100) and a check run's log
 * (an Actions job's through the Actions API's log download, any other check's own output).
 *
 * The thread is read from the end: the first page tells (through its `Link` header) which page is
 * last, and only the last one or two pages are fetched. At most 100 comments are returned.
 *
 * @since 0.1.0
 */
import { Event, IssueReader, Messages, type Repo } from "@porter/core"
import { Config, Effect, Layer, Option, Schema } from "effect"
import { Base64 } from "effect/encoding"
import type { InvalidPrivateKey } from "./AppJwt.ts"
import * as GitHubAuth from "./GitHubAuth.ts"
import type { GitHubClient } from "./GitHubClient.ts"
import { toReportError } from "./GitHubReporter.ts"

const CommentList = Schema.Array(Schema.Struct({
  body: Schema.optional(Schema.NullOr(Schema.String)),
  created_at: Schema.String,
  user: Schema.NullOr(Schema.Struct({ login: Schema.String, type: Schema.optional(Schema.String) }))
}))

const PullRequest = Schema.Struct({
  state: Schema.String,
  head: Schema.Struct({
    ref: Schema.String,
    repo: Schema.optional(Schema.NullOr(Schema.Struct({ full_name: Schema.String })))
  }),
  base: Schema.Struct({ ref: Schema.String, repo: Schema.Struct({ full_name: Schema.String }) })
})

const Issue = Schema.Struct({
  title: Schema.String,
  body: Schema.optional(Schema.NullOr(Schema.String)),
  state: Schema.String
})

const FileContent = Schema.Struct({
  type: Schema.String,
  encoding: Schema.optional(Schema.String),
  content: Schema.optional(Schema.String)
})

/** A check run as the Checks API lists it: only what CI feedback reads. */
const CheckRunJson = Schema.Struct({
  id: Schema.Int,
  name: Schema.String,
  status: Schema.String,
  conclusion: Schema.optional(Schema.NullOr(Schema.String)),
  html_url: Schema.optional(Schema.NullOr(Schema.String)),
  head_sha: Schema.String,
  check_suite: Schema.optional(Schema.NullOr(Schema.Struct({ id: Schema.Int }))),
  app: Schema.optional(Schema.NullOr(Schema.Struct({ slug: Schema.optional(Schema.String) }))),
  output: Schema.optional(Schema.Struct({
    title: Schema.optional(Schema.NullOr(Schema.String)),
    summary: Schema.optional(Schema.NullOr(Schema.String)),
    text: Schema.optional(Schema.NullOr(Schema.String))
  }))
})
const CheckRunList = Schema.Struct({ check_runs: Schema.Array(CheckRunJson) })

/** The App whose check runs are GitHub Actions jobs (their ids are the jobs' ids). */
const ACTIONS_APP = "github-actions"

const utf8 = new TextDecoder("utf-8", { fatal: true })

const PER_PAGE = 100

/** The `page` number of the `rel="last"` link, if any. */
export const lastPage = (link: string | undefined): number | undefined => {
  if (link === undefined) return undefined
  for (const part of link.split(",")) {
    const match = /<([^>]+)>\s*;\s*rel="last"/.exec(part)
    if (match) {
      const page = Number(new URL(match[1]!, "http://x").searchParams.get("page"))
      return Number.isInteger(page) && page > 0 ? page : undefined
    }
  }
  return undefined
}

/**
 * @category constructors
 * @since 0.1.0
 */
export const make: Effect.Effect<
  IssueReader.IssueReader["Service"],
  never,
  GitHubAuth.GitHubAuth | GitHubClient
> = Effect.gen(function*() {
  const request = yield* GitHubAuth.repoRequest

  const page = (issue: Repo.IssueRef, installationId: number | undefined, n: number) =>
    request(issue.repo, installationId, "GET /repos/{owner}/{repo}/issues/{issue_number}/comments", {
      params: { issue_number: issue.number, per_page: PER_PAGE, page: n },
      schema: CommentList
    })

  const thread = Effect.fn("GitHubIssueReader.thread")(function*(
    issue: Repo.IssueRef,
    limit: number,
    installationId?: number
  ) {
    if (limit <= 0) return []
    const first = yield* page(issue, installationId, 1)
    const last = lastPage(first.headers["link"])
    let comments = first.data
    if (last !== undefined && last > 1) {
      const tail = yield* page(issue, installationId, last)
      comments = tail.data
      if (comments.length < limit) {
        // Two pages always cover a limit of at most 100; page 1 is at hand already.
        const before = last - 1 > 1 ? (yield* page(issue, installationId, last - 1)).data : first.data
        comments = [...before, ...comments]
      }
    }
    return comments.slice(-Math.min(limit, PER_PAGE)).map((c): IssueReader.ThreadComment => {
      const body = c.body ?? ""
      const login = c.user?.login ?? "ghost"
      return {
        author: login,
        authorIsBot: c.user?.type === "Bot" || login.endsWith("[bot]") || body.includes(Messages.MARKER_PREFIX),
        body,
        createdAt: c.created_at
      }
    })
  }, Effect.mapError(toReportError))

  const pullRequest = Effect.fn("GitHubIssueReader.pullRequest")(function*(
    repo: Repo.RepoRef,
    number: number,
    installationId?: number
  ) {
    const response = yield* request(repo, installationId, "GET /repos/{owner}/{repo}/pulls/{pull_number}", {
      params: { pull_number: number },
      schema: PullRequest
    })
    const pr = response.data
    return {
      headBranch: pr.head.ref,
      // A fork that was deleted has no head repository: nothing can be pushed there.
      headRepoFullName: pr.head.repo?.full_name ?? "",
      baseBranch: pr.base.ref,
      state: pr.state
    } satisfies IssueReader.PullRequestInfo
  }, Effect.mapError(toReportError))

  const issue = Effect.fn("GitHubIssueReader.issue")(function*(ref: Repo.IssueRef, installationId?: number) {
    const response = yield* request(ref.repo, installationId, "GET /repos/{owner}/{repo}/issues/{issue_number}", {
      params: { issue_number: ref.number },
      schema: Issue
    })
    return new Event.IssueSnapshot({
      title: response.data.title,
      body: response.data.body ?? "",
      state: response.data.state
    })
  }, Effect.mapError(toReportError))

  const file = Effect.fn("GitHubIssueReader.file")(function*(
    repo: Repo.RepoRef,
    path: string,
    ref: string | undefined,
    installationId?: number
  ) {
    // Segment by segment: the slashes stay slashes (a `{path}` expansion would send them as %2F).
    const encoded = path.split("/").map(encodeURIComponent).join("/")
    const response = yield* request(repo, installationId, "GET /repos/{owner}/{repo}/contents/{+path}", {
      params: { path: encoded, ...(ref !== undefined ? { ref } : {}) },
      schema: Schema.Union([FileContent, Schema.Array(Schema.Unknown)])
    }).pipe(
      Effect.map(Option.some),
      Effect.catchIf((error) => error.status === 404, () => Effect.succeed(Option.none()))
    )
    if (Option.isNone(response)) return Option.none<string>()
    const data = response.value.data
    if (Array.isArray(data) || !("type" in data) || data.type !== "file" || data.encoding !== "base64") {
      return Option.none<string>()
    }
    const bytes = Base64.decode((data.content ?? "").replace(/\s+/g, ""))
    if (bytes._tag === "Failure") return Option.none<string>()
    try {
      return Option.some(utf8.decode(bytes.success))
    } catch {
      return Option.none<string>()
    }
  }, Effect.mapError(toReportError))

  const checkRuns = Effect.fn("GitHubIssueReader.checkRuns")(function*(
    repo: Repo.RepoRef,
    target: IssueReader.CheckTarget,
    installationId?: number
  ) {
    const params = { filter: "latest", per_page: PER_PAGE }
    const response = "ref" in target
      ? yield* request(repo, installationId, "GET /repos/{owner}/{repo}/commits/{ref}/check-runs", {
        params: { ...params, ref: target.ref },
        schema: CheckRunList
      })
      : yield* request(repo, installationId, "GET /repos/{owner}/{repo}/check-suites/{check_suite_id}/check-runs", {
        params: { ...params, check_suite_id: target.checkSuiteId },
        schema: CheckRunList
      })
    return response.data.check_runs.map((run): IssueReader.CheckRun => ({
      id: run.id,
      name: run.name,
      status: run.status,
      conclusion: run.conclusion ?? undefined,
      url: run.html_url ?? "",
      headSha: run.head_sha,
      checkSuiteId: run.check_suite?.id,
      actionsJob: run.app?.slug === ACTIONS_APP,
      output: [run.output?.title, run.output?.summary, run.output?.text].filter((t) => t != null && t !== "").join(
        "\n\n"
      )
    }))
  }, Effect.mapError(toReportError))

  const checkLog = Effect.fn("GitHubIssueReader.checkLog")(function*(
    repo: Repo.RepoRef,
    run: IssueReader.CheckRun,
    installationId?: number
  ) {
    if (!run.actionsJob) return run.output
    // GitHub answers 302 to a short-lived download URL of the plain-text log; fetch follows it (without the token).
    // Octokit gives text for `text/*` answers and bytes for others (a storage service's `application/octet-stream`).
    const response = yield* request(repo, installationId, "GET /repos/{owner}/{repo}/actions/jobs/{job_id}/logs", {
      params: { job_id: run.id },
      schema: Schema.Union([Schema.String, Schema.instanceOf(ArrayBuffer)])
    })
    const data = response.data
    return typeof data === "string" ? data : new TextDecoder().decode(data)
  }, Effect.mapError(toReportError))

  return IssueReader.IssueReader.of({ issue, thread, pullRequest, file, checkRuns, checkLog })
})

/**
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  options: GitHubAuth.ConnectionOptions
): Layer.Layer<IssueReader.IssueReader, InvalidPrivateKey> =>
  Layer.effect(IssueReader.IssueReader, make).pipe(Layer.provide(GitHubAuth.layerConnection(options)))

/**
 * @category layers
 * @since 0.1.0
 */
export const layerWithConnection: Layer.Layer<IssueReader.IssueReader, never, GitHubAuth.GitHubAuth | GitHubClient> =
  Layer.effect(IssueReader.IssueReader, make)

/**
 * @category layers
 * @since 0.1.0
 */
export const layerConfig: Layer.Layer<IssueReader.IssueReader, Config.ConfigError | InvalidPrivateKey> =
  layerWithConnection.pipe(Layer.provide(GitHubAuth.layerConnectionConfig()))

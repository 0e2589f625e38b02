/**
 * The Checks and Actions APIs, read side: a commit's (or a branch's head's) check runs and check suites, a check
 * suite and its runs, a check run; a workflow run, its jobs, a job, and a job's log — a 302 to a download URL that
 * needs no token, as on GitHub (`/_emulator/logs/jobs/{job_id}/{token}`, the token unguessable). Installation tokens
 * need the `checks` (Checks API) or `actions` (Actions API) permission. `filter=latest` is the default and the only
 * filter (there are no re-runs). Writes (creating or updating check runs) are not emulated: a test completes a suite
 * with `/_emulator/repos/{owner}/{repo}/check-suites` (`Checks.complete`).
 */
import { Effect, Schema } from "effect"
import type { Need } from "../Auth.ts"
import type { RouteContext } from "../Context.ts"
import { makeHelpers } from "../Context.ts"
import * as Git from "../Git.ts"
import { decodeBody, json, notFound, paginate, text } from "../Http.ts"
import type { ApiRequest, Route } from "../Http.ts"

const READ_CHECKS: Need = { role: "read", scope: "checks", level: "read" }
const READ_ACTIONS: Need = { role: "read", scope: "actions", level: "read" }

const SuiteBody = Schema.Struct({
  branch: Schema.String,
  app: Schema.optional(Schema.Literals(["actions", "external"])),
  workflow: Schema.optional(Schema.String),
  runs: Schema.Array(Schema.Struct({
    name: Schema.String,
    conclusion: Schema.String,
    log: Schema.optional(Schema.String),
    summary: Schema.optional(Schema.String)
  })).pipe(Schema.check(Schema.isMinLength(1)))
})

export const routes = (context: RouteContext): ReadonlyArray<Route> => {
  const { baseUrl, checks, state } = context
  const { repoFor } = makeHelpers(context)
  const id = (request: ApiRequest, name: string) => Number(request.params[name])

  /** The commit `{ref}` names: a SHA, or a branch (its head). */
  const commitOf = (request: ApiRequest, gitDir: string) =>
    Effect.flatMap(
      Git.resolve(gitDir, request.params["ref"] ?? ""),
      (sha) => sha === undefined ? Effect.fail(notFound()) : Effect.succeed(sha)
    )

  const runList = (request: ApiRequest, list: ReadonlyArray<Parameters<typeof checks.checkRunJson>[0]>) => {
    const name = request.query.get("check_name")
    const status = request.query.get("status")
    const kept = list.filter((run) =>
      (name === null || run.name === name) && (status === null || status === "completed")
    )
    const page = paginate(kept, request, baseUrl)
    return json({ total_count: kept.length, check_runs: page.items.map(checks.checkRunJson) }, 200, page.headers)
  }

  return [
    {
      method: "GET",
      path: "/repos/{owner}/{repo}/commits/{ref}/check-runs",
      handler: (request) =>
        Effect.gen(function*() {
          const repo = yield* repoFor(request, READ_CHECKS)
          return runList(request, checks.runsAt(repo, yield* commitOf(request, repo.gitDir)))
        })
    },
    {
      method: "GET",
      path: "/repos/{owner}/{repo}/commits/{ref}/check-suites",
      handler: (request) =>
        Effect.gen(function*() {
          const repo = yield* repoFor(request, READ_CHECKS)
          const suites = checks.suitesAt(repo, yield* commitOf(request, repo.gitDir))
          const page = paginate(suites, request, baseUrl)
          const items = yield* Effect.forEach(page.items, checks.suiteJson)
          return json({ total_count: suites.length, check_suites: items }, 200, page.headers)
        })
    },
    {
      method: "GET",
      path: "/repos/{owner}/{repo}/check-suites/{check_suite_id}",
      handler: (request) =>
        Effect.gen(function*() {
          const repo = yield* repoFor(request, READ_CHECKS)
          const suite = checks.suite(repo, id(request, "check_suite_id"))
          if (!suite) return yield* notFound()
          return json(yield* checks.suiteJson(suite))
        })
    },
    {
      method: "GET",
      path: "/repos/{owner}/{repo}/check-suites/{check_suite_id}/check-runs",
      handler: (request) =>
        Effect.gen(function*() {
          const repo = yield* repoFor(request, READ_CHECKS)
          const suite = checks.suite(repo, id(request, "check_suite_id"))
          if (!suite) return yield* notFound()
          return runList(request, checks.runsOf(suite))
        })
    },
    {
      method: "GET",
      path: "/repos/{owner}/{repo}/check-runs/{check_run_id}",
      handler: (request) =>
        Effect.gen(function*() {
          const run = checks.run(yield* repoFor(request, READ_CHECKS), id(request, "check_run_id"))
          return run ? json(checks.checkRunJson(run)) : yield* notFound()
        })
    },
    {
      method: "GET",
      path: "/repos/{owner}/{repo}/actions/runs/{run_id}",
      handler: (request) =>
        Effect.gen(function*() {
          const suite = checks.workflowRun(yield* repoFor(request, READ_ACTIONS), id(request, "run_id"))
          return suite ? json(yield* checks.workflowRunJson(suite)) : yield* notFound()
        })
    },
    {
      method: "GET",
      path: "/repos/{owner}/{repo}/actions/runs/{run_id}/jobs",
      handler: (request) =>
        Effect.gen(function*() {
          const suite = checks.workflowRun(yield* repoFor(request, READ_ACTIONS), id(request, "run_id"))
          if (!suite) return yield* notFound()
          const jobs = checks.runsOf(suite)
          const page = paginate(jobs, request, baseUrl)
          return json({ total_count: jobs.length, jobs: page.items.map(checks.jobJson) }, 200, page.headers)
        })
    },
    {
      method: "GET",
      path: "/repos/{owner}/{repo}/actions/jobs/{job_id}",
      handler: (request) =>
        Effect.gen(function*() {
          const run = checks.run(yield* repoFor(request, READ_ACTIONS), id(request, "job_id"))
          return run?.log !== undefined ? json(checks.jobJson(run)) : yield* notFound()
        })
    },
    {
      method: "GET",
      path: "/repos/{owner}/{repo}/actions/jobs/{job_id}/logs",
      handler: (request) =>
        Effect.gen(function*() {
          const run = checks.run(yield* repoFor(request, READ_ACTIONS), id(request, "job_id"))
          if (run?.log === undefined) return yield* notFound()
          return {
            _tag: "Empty",
            status: 302,
            headers: { location: `${baseUrl}/_emulator/logs/jobs/${run.id}/${run.logToken}` }
          }
        })
    },
    {
      method: "GET",
      path: "/_emulator/logs/jobs/{job_id}/{token}",
      web: true,
      handler: (request) =>
        Effect.gen(function*() {
          const run = checks.logByToken(id(request, "job_id"), request.params["token"] ?? "")
          return run?.log !== undefined ? text(run.log, "text/plain; charset=utf-8") : yield* notFound()
        })
    },
    {
      method: "POST",
      path: "/_emulator/repos/{owner}/{repo}/check-suites",
      handler: (request) =>
        Effect.gen(function*() {
          const body = yield* decodeBody(SuiteBody)(request.body)
          const repo = state.repo(request.params["owner"] ?? "", request.params["repo"] ?? "")
          if (!repo) return yield* notFound()
          return json(yield* checks.complete(repo, body), 201)
        })
    }
  ]
}

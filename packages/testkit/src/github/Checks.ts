/**
 * Checks and Actions in the emulator: check suites, check runs with their output, GitHub Actions workflow runs and
 * their jobs with logs, and GitHub's JSON for them (Checks API `check-suite`, `check-run`; Actions API
 * `workflow-run`, `job`; the `check_suite` and `workflow_run` webhooks). An Actions job is a check run (same id), as
 * on GitHub.
 *
 * Nothing runs: a test completes a check suite with the outcome it wants (`complete`), on a branch's head, and GitHub's
 * webhooks for it go out — `workflow_run` (completed) for an Actions suite, then `check_suite` (completed). Not
 * emulated: creating or updating check runs through the API (Apps' own checks), re-runs, annotations, artifacts,
 * workflow files (a workflow exists once a suite names it), `check_run` webhooks, statuses.
 */
import { Effect } from "effect"
import { randomBytes } from "node:crypto"
import * as Git from "./Git.ts"
import { iso, notFound } from "./Http.ts"
import type { Payloads } from "./Payloads.ts"
import type { Account, Repo, State } from "./State.ts"
import type { Events } from "./Webhooks.ts"

/** What a test asks for: one completed check suite on `branch`'s head. */
export interface SuiteInput {
  readonly branch: string
  /** `actions` (the default): a GitHub Actions workflow run whose jobs are the check runs, with logs. */
  readonly app?: "actions" | "external"
  /** The workflow's name (Actions) — default "CI". */
  readonly workflow?: string
  readonly runs: ReadonlyArray<{
    readonly name: string
    /** `success`, `failure`, `timed_out`, `cancelled`, `skipped`, `neutral`… */
    readonly conclusion: string
    /** An Actions job's log (plain text); for an external check, its output's text. */
    readonly log?: string
    readonly summary?: string
  }>
  /** Who pushed (the workflow run's actor): default the repository's owner. */
  readonly actor?: Account
}

interface Suite {
  readonly id: number
  readonly repo: Repo
  readonly headBranch: string
  readonly headSha: string
  readonly before: string
  readonly conclusion: string
  readonly app: "actions" | "external"
  readonly at: number
  readonly workflowRun: WorkflowRun | undefined
}

interface WorkflowRun {
  readonly id: number
  readonly workflowId: number
  readonly name: string
  readonly path: string
  readonly runNumber: number
  readonly actor: Account
}

interface Run {
  readonly id: number
  readonly suite: Suite
  readonly name: string
  readonly conclusion: string
  readonly summary: string | null
  readonly text: string | null
  readonly log: string | undefined
  /** The secret part of its log's download URL (GitHub's are signed and short-lived). */
  readonly logToken: string
}

/** The GitHub Actions App as GitHub shows it (its real id and slug). */
const ACTIONS_APP = { id: 15368, slug: "github-actions", name: "GitHub Actions" }
/** The App that owns external checks in the emulator. */
const EXTERNAL_APP = { id: 9_000_001, slug: "emulated-ci", name: "Emulated CI" }

const nodeId = (kind: string, id: number) => Buffer.from(`0${kind.length}:${kind}${id}`).toString("base64")

const worst = (conclusions: ReadonlyArray<string>): string => {
  const order = ["action_required", "timed_out", "failure", "startup_failure", "cancelled", "stale", "neutral"]
  return order.find((c) => conclusions.includes(c)) ??
    (conclusions.every((c) => c === "skipped") ? "skipped" : "success")
}

export const make = (state: State, payloads: Payloads, events: Events) => {
  const suites: Array<Suite> = []
  const runs: Array<Run> = []
  const workflows = new Map<string, number>() // `repo id:name` → workflow id
  let runNumber = 0
  const base = payloads.base
  const api = (repo: Repo) => payloads.repoUrl(repo)
  const web = (repo: Repo) => payloads.repoHtml(repo)

  const appJson = (which: Suite["app"]) => {
    const app = which === "actions" ? ACTIONS_APP : EXTERNAL_APP
    return {
      id: app.id,
      slug: app.slug,
      node_id: nodeId("Integration", app.id),
      owner: payloads.user(state.admin),
      name: app.name,
      description: "",
      external_url: `${base}/apps/${app.slug}`,
      html_url: `${base}/apps/${app.slug}`,
      created_at: iso(0),
      updated_at: iso(0),
      permissions: { actions: "write", checks: "write", contents: "read", metadata: "read" },
      events: []
    }
  }

  /** The open pull requests of the suite's repository whose head is its branch (GitHub's `pull_requests`). */
  const pullsOf = (suite: Suite) =>
    state.issuesOf(suite.repo).filter((issue) =>
      issue.pull !== undefined && issue.state === "open" && issue.pull.headRef === suite.headBranch &&
      issue.pull.headRepo.id === suite.repo.id
    ).map((pr) => {
      const end = (ref: string, sha: string) => ({
        ref,
        sha,
        repo: { id: suite.repo.id, url: api(suite.repo), name: suite.repo.name }
      })
      return {
        url: `${api(suite.repo)}/pulls/${pr.number}`,
        id: pr.pullId,
        number: pr.number,
        head: end(suite.headBranch, suite.headSha),
        base: end(pr.pull!.baseRef, pr.pull!.baseSha)
      }
    })

  const headCommit = (suite: Suite) =>
    Effect.map(Git.commit(suite.repo.gitDir, suite.headSha), (info) => ({
      id: info.sha,
      tree_id: info.tree,
      message: info.message,
      timestamp: info.committer.date,
      author: { name: info.author.name, email: info.author.email },
      committer: { name: info.committer.name, email: info.committer.email }
    }))

  const suiteJson = (suite: Suite) =>
    Effect.map(headCommit(suite), (head_commit) => ({
      id: suite.id,
      node_id: nodeId("CheckSuite", suite.id),
      head_branch: suite.headBranch,
      head_sha: suite.headSha,
      status: "completed",
      conclusion: suite.conclusion,
      url: `${api(suite.repo)}/check-suites/${suite.id}`,
      before: suite.before,
      after: suite.headSha,
      pull_requests: pullsOf(suite),
      app: appJson(suite.app),
      repository: payloads.repository(suite.repo),
      created_at: iso(suite.at),
      updated_at: iso(suite.at),
      head_commit,
      latest_check_runs_count: runs.filter((run) => run.suite === suite).length,
      check_runs_url: `${api(suite.repo)}/check-suites/${suite.id}/check-runs`,
      rerequestable: true,
      runs_rerequestable: true
    }))

  const runUrl = (run: Run) =>
    run.suite.workflowRun === undefined
      ? `${web(run.suite.repo)}/runs/${run.id}`
      : `${web(run.suite.repo)}/actions/runs/${run.suite.workflowRun.id}/job/${run.id}`

  const checkRunJson = (run: Run) => {
    const url = `${api(run.suite.repo)}/check-runs/${run.id}`
    return {
      id: run.id,
      head_sha: run.suite.headSha,
      node_id: nodeId("CheckRun", run.id),
      external_id: "",
      url,
      html_url: runUrl(run),
      details_url: runUrl(run),
      status: "completed",
      conclusion: run.conclusion,
      started_at: iso(run.suite.at),
      completed_at: iso(run.suite.at),
      output: {
        title: run.summary === null ? null : run.name,
        summary: run.summary,
        text: run.text,
        annotations_count: 0,
        annotations_url: `${url}/annotations`
      },
      name: run.name,
      check_suite: { id: run.suite.id },
      app: appJson(run.suite.app),
      pull_requests: pullsOf(run.suite).map(({ base: b, head, id, number, url: u }) => ({
        id,
        number,
        url: u,
        head,
        base: b
      }))
    }
  }

  const workflowRunJson = (suite: Suite) =>
    Effect.map(headCommit(suite), (head_commit) => {
      const run = suite.workflowRun!
      const url = `${api(suite.repo)}/actions/runs/${run.id}`
      return {
        id: run.id,
        name: run.name,
        node_id: nodeId("WorkflowRun", run.id),
        check_suite_id: suite.id,
        check_suite_node_id: nodeId("CheckSuite", suite.id),
        head_branch: suite.headBranch,
        head_sha: suite.headSha,
        path: run.path,
        run_number: run.runNumber,
        run_attempt: 1,
        referenced_workflows: [],
        event: "push",
        status: "completed",
        conclusion: suite.conclusion,
        workflow_id: run.workflowId,
        url,
        html_url: `${web(suite.repo)}/actions/runs/${run.id}`,
        pull_requests: pullsOf(suite),
        created_at: iso(suite.at),
        updated_at: iso(suite.at),
        actor: payloads.user(run.actor),
        triggering_actor: payloads.user(run.actor),
        run_started_at: iso(suite.at),
        jobs_url: `${url}/jobs`,
        logs_url: `${url}/logs`,
        check_suite_url: `${api(suite.repo)}/check-suites/${suite.id}`,
        artifacts_url: `${url}/artifacts`,
        cancel_url: `${url}/cancel`,
        rerun_url: `${url}/rerun`,
        previous_attempt_url: null,
        workflow_url: `${api(suite.repo)}/actions/workflows/${run.workflowId}`,
        head_commit,
        repository: payloads.repository(suite.repo),
        head_repository: payloads.repository(suite.repo),
        display_title: head_commit.message.split("\n")[0] ?? ""
      }
    })

  const workflowJson = (suite: Suite) => {
    const run = suite.workflowRun!
    return {
      id: run.workflowId,
      node_id: nodeId("Workflow", run.workflowId),
      name: run.name,
      path: run.path,
      state: "active",
      created_at: iso(suite.at),
      updated_at: iso(suite.at),
      url: `${api(suite.repo)}/actions/workflows/${run.workflowId}`,
      html_url: `${web(suite.repo)}/blob/${suite.repo.defaultBranch}/${run.path}`,
      badge_url: `${web(suite.repo)}/workflows/${encodeURIComponent(run.name)}/badge.svg`
    }
  }

  const jobJson = (run: Run) => {
    const workflow = run.suite.workflowRun!
    return {
      id: run.id,
      run_id: workflow.id,
      run_url: `${api(run.suite.repo)}/actions/runs/${workflow.id}`,
      run_attempt: 1,
      node_id: nodeId("CheckRun", run.id),
      head_sha: run.suite.headSha,
      url: `${api(run.suite.repo)}/actions/jobs/${run.id}`,
      html_url: runUrl(run),
      status: "completed",
      conclusion: run.conclusion,
      created_at: iso(run.suite.at),
      started_at: iso(run.suite.at),
      completed_at: iso(run.suite.at),
      name: run.name,
      steps: [],
      check_run_url: `${api(run.suite.repo)}/check-runs/${run.id}`,
      labels: ["ubuntu-latest"],
      runner_id: 1,
      runner_name: "GitHub Actions 1",
      runner_group_id: 1,
      runner_group_name: "GitHub Actions",
      workflow_name: workflow.name,
      head_branch: run.suite.headBranch
    }
  }

  /** Completes a check suite on the branch's head and sends GitHub's webhooks for it. */
  const complete = (repo: Repo, input: SuiteInput) =>
    Effect.gen(function*() {
      const headSha = yield* Git.resolve(repo.gitDir, `refs/heads/${input.branch}`)
      if (headSha === undefined) return yield* notFound()
      const parent = (yield* Git.commit(repo.gitDir, headSha)).parents[0] ?? "0".repeat(40)
      const app = input.app ?? "actions"
      const name = input.workflow ?? "CI"
      const workflowKey = `${repo.id}:${name}`
      if (app === "actions" && !workflows.has(workflowKey)) workflows.set(workflowKey, state.nextId("workflow"))
      const suite: Suite = {
        id: state.nextId("checkSuite"),
        repo,
        headBranch: input.branch,
        headSha,
        before: parent,
        conclusion: worst(input.runs.map((run) => run.conclusion)),
        app,
        at: state.now(),
        workflowRun: app === "actions"
          ? {
            id: state.nextId("workflowRun"),
            workflowId: workflows.get(workflowKey)!,
            name,
            path: `.github/workflows/${name.toLowerCase().replace(/[^a-z0-9]+/g, "-")}.yml`,
            runNumber: ++runNumber,
            actor: input.actor ?? repo.owner
          }
          : undefined
      }
      suites.push(suite)
      for (const run of input.runs) {
        runs.push({
          id: state.nextId("checkRun"),
          suite,
          name: run.name,
          conclusion: run.conclusion,
          summary: app === "actions" ? null : run.summary ?? `${run.name}: ${run.conclusion}`,
          text: app === "actions" ? null : run.log ?? null,
          log: app === "actions" ? run.log ?? "" : undefined,
          logToken: randomBytes(16).toString("hex")
        })
      }
      const sender = input.actor ?? repo.owner
      if (suite.workflowRun !== undefined) {
        yield* events.workflowRun("completed", yield* workflowRunJson(suite), workflowJson(suite), repo, sender)
      }
      const { repository: _, ...checkSuite } = yield* suiteJson(suite)
      yield* events.checkSuite("completed", checkSuite, repo, sender)
      return {
        checkSuiteId: suite.id,
        workflowRunId: suite.workflowRun?.id,
        headSha,
        checkRunIds: runs.filter((run) => run.suite === suite).map((run) => run.id)
      }
    })

  return {
    complete,
    suite: (repo: Repo, id: number) => suites.find((suite) => suite.repo === repo && suite.id === id),
    suitesAt: (repo: Repo, sha: string) => suites.filter((suite) => suite.repo === repo && suite.headSha === sha),
    run: (repo: Repo, id: number) => runs.find((run) => run.suite.repo === repo && run.id === id),
    runsOf: (suite: Suite) => runs.filter((run) => run.suite === suite),
    runsAt: (repo: Repo, sha: string) => runs.filter((run) => run.suite.repo === repo && run.suite.headSha === sha),
    workflowRun: (repo: Repo, id: number) =>
      suites.find((suite) => suite.repo === repo && suite.workflowRun?.id === id),
    /** A job's log by its download token (the 302's target). */
    logByToken: (id: number, token: string) => runs.find((run) => run.id === id && run.logToken === token),
    suiteJson,
    checkRunJson,
    workflowRunJson,
    jobJson
  }
}

export type Checks = ReturnType<typeof make>
export type { Run as CheckRun, Suite as CheckSuite }

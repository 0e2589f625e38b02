// Checks and Actions in the emulator: a test completes a failing check suite on a pull request's branch; GitHub's
// `workflow_run` and `check_suite` webhooks go out (payloads valid against GitHub's webhook schemas); the Checks API
// lists the suite's runs for the branch, the SHA and the suite, the Actions API the run and its jobs, and a job's log
// is a 302 to a download URL that needs no token — every answer validated against GitHub's OpenAPI description.
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { call, Emu, EmuLayer, installationToken, octokit, openApi, statusOf } from "./githubSupport.ts"

const BRANCH = "porter/1-abcdefgh"
const LOG = "2026-03-02T09:00:00Z Run npm test\nFAIL test/date.test.ts\nAssertionError: expected 2026-W05 to parse\n"

layer(EmuLayer(), { excludeTestServices: true })("GitHub emulator checks", (it) => {
  it.effect("a failed suite on a PR's branch: webhooks, Checks API, Actions API, the job's log", () =>
    Effect.gen(function*() {
      const emu = yield* Emu
      const admin = octokit(emu, emu.admin.token)
      const owner = emu.admin.login
      const repo = "checked"
      yield* call(() => admin.rest.repos.createForAuthenticatedUser({ name: repo, auto_init: true }))
      const main = yield* call(() => admin.rest.git.getRef({ owner, repo, ref: "heads/main" }))
      const base = yield* call(() => admin.rest.git.getCommit({ owner, repo, commit_sha: main.data.object.sha }))
      const tree = yield* call(() =>
        admin.rest.git.createTree({
          owner,
          repo,
          base_tree: base.data.tree.sha,
          tree: [{ path: "date.ts", mode: "100644", type: "blob", content: "export {}\n" }]
        })
      )
      const commit = yield* call(() =>
        admin.rest.git.createCommit({
          owner,
          repo,
          message: "Parse ISO weeks",
          tree: tree.data.sha,
          parents: [base.data.sha]
        })
      )
      yield* call(() => admin.rest.git.createRef({ owner, repo, ref: `refs/heads/${BRANCH}`, sha: commit.data.sha }))
      const pr = yield* call(() =>
        admin.rest.pulls.create({ owner, repo, title: "ISO weeks", head: BRANCH, base: "main" })
      )

      const done = yield* call(() =>
        emu.completeCheckSuite(owner, repo, {
          branch: BRANCH,
          runs: [
            { name: "test (node 24)", conclusion: "failure", log: LOG },
            { name: "lint", conclusion: "success", log: "ok\n" }
          ]
        })
      )
      assert.strictEqual(done.headSha, commit.data.sha)
      assert.strictEqual(done.checkRunIds.length, 2)

      // GitHub's webhooks: workflow_run, then check_suite, both completed, on the PR's branch.
      const deliveries = (yield* call(() => emu.deliveries())).filter((d) =>
        d.event === "workflow_run" || d.event === "check_suite"
      )
      assert.deepStrictEqual(deliveries.map((d) => `${d.event}.${d.action}`), [
        "workflow_run.completed",
        "check_suite.completed"
      ])
      const spec = openApi()
      for (const delivery of deliveries) {
        assert.isUndefined(spec.webhook(delivery.event, delivery.action, delivery.payload), delivery.event)
      }
      const suite = (deliveries[1]!.payload as {
        check_suite: {
          id: number
          conclusion: string
          head_branch: string
          app: { slug: string }
          pull_requests: Array<{ number: number }>
        }
      }).check_suite
      assert.strictEqual(suite.id, done.checkSuiteId)
      assert.strictEqual(suite.conclusion, "failure")
      assert.strictEqual(suite.head_branch, BRANCH)
      assert.strictEqual(suite.app.slug, "github-actions")
      assert.deepStrictEqual(suite.pull_requests.map((p) => p.number), [pr.data.number])
      const workflowRun = (deliveries[0]!.payload as { workflow_run: { check_suite_id: number; id: number } })
        .workflow_run
      assert.strictEqual(workflowRun.check_suite_id, done.checkSuiteId)
      assert.strictEqual(workflowRun.id, done.workflowRunId)

      // What Porter reads, with an installation token.
      const bot = octokit(emu, yield* installationToken(emu, owner))
      const byBranch = yield* call(() => bot.rest.checks.listForRef({ owner, repo, ref: BRANCH, filter: "latest" }))
      assert.deepStrictEqual(
        byBranch.data.check_runs.map((run) => `${run.name}:${run.conclusion}`),
        ["test (node 24):failure", "lint:success"]
      )
      const bySha = yield* call(() => bot.rest.checks.listForRef({ owner, repo, ref: commit.data.sha }))
      assert.strictEqual(bySha.data.total_count, 2)
      const bySuite = yield* call(() =>
        bot.rest.checks.listForSuite({ owner, repo, check_suite_id: done.checkSuiteId })
      )
      assert.strictEqual(bySuite.data.total_count, 2)
      const failed = byBranch.data.check_runs[0]!
      assert.strictEqual(failed.app?.slug, "github-actions")
      assert.include(failed.html_url ?? "", `/actions/runs/${done.workflowRunId}/job/${failed.id}`)
      yield* call(() => bot.rest.checks.get({ owner, repo, check_run_id: failed.id }))
      yield* call(() => bot.rest.checks.getSuite({ owner, repo, check_suite_id: done.checkSuiteId }))
      const suites = yield* call(() => bot.rest.checks.listSuitesForRef({ owner, repo, ref: BRANCH }))
      assert.strictEqual(suites.data.total_count, 1)
      const run = yield* call(() => bot.rest.actions.getWorkflowRun({ owner, repo, run_id: done.workflowRunId! }))
      assert.strictEqual(run.data.conclusion, "failure")
      const jobs = yield* call(() =>
        bot.rest.actions.listJobsForWorkflowRun({ owner, repo, run_id: done.workflowRunId! })
      )
      assert.deepStrictEqual(jobs.data.jobs.map((job) => job.id), done.checkRunIds)

      // The log: a 302 to a URL that needs no token (Octokit follows it).
      const logs = yield* call(() => bot.rest.actions.downloadJobLogsForWorkflowRun({ owner, repo, job_id: failed.id }))
      assert.strictEqual(logs.data as unknown, LOG)
      const redirect = yield* Effect.promise(() =>
        fetch(`${emu.url}/repos/${owner}/${repo}/actions/jobs/${failed.id}/logs`, {
          headers: { authorization: `Bearer ${emu.admin.token}` },
          redirect: "manual"
        })
      )
      assert.strictEqual(redirect.status, 302)
      const location = redirect.headers.get("location")!
      const anonymous = yield* Effect.promise(() => fetch(location).then((r) => r.text()))
      assert.strictEqual(anonymous, LOG)
      const forged = yield* Effect.promise(() => fetch(location.replace(/\/[0-9a-f]+$/, "/0000")))
      assert.strictEqual(forged.status, 404)
    }))

  it.effect("an external App's check: its output is what there is to read; no workflow_run; tokens need checks", () =>
    Effect.gen(function*() {
      const emu = yield* Emu
      const admin = octokit(emu, emu.admin.token)
      const owner = emu.admin.login
      const repo = "external"
      yield* call(() => admin.rest.repos.createForAuthenticatedUser({ name: repo, auto_init: true }))
      const done = yield* call(() =>
        emu.completeCheckSuite(owner, repo, {
          branch: "main",
          app: "external",
          runs: [{ name: "coverage", conclusion: "failure", summary: "Coverage fell", log: "lines: 71%" }]
        })
      )
      assert.isUndefined(done.workflowRunId)
      const events = (yield* call(() => emu.deliveries())).filter((d) => d.payload !== undefined).map((d) => d.event)
      assert.include(events, "check_suite")
      const runs = yield* call(() => admin.rest.checks.listForSuite({ owner, repo, check_suite_id: done.checkSuiteId }))
      const [coverage] = runs.data.check_runs
      assert.strictEqual(coverage!.output.summary, "Coverage fell")
      assert.strictEqual(coverage!.output.text, "lines: 71%")
      const noLog = yield* statusOf(() =>
        admin.rest.actions.downloadJobLogsForWorkflowRun({ owner, repo, job_id: coverage!.id })
      )
      assert.strictEqual(noLog.status, 404)
      const noSuite = yield* statusOf(() => admin.rest.checks.getSuite({ owner, repo, check_suite_id: 1 }))
      assert.strictEqual(noSuite.status, 404)
    }))
})

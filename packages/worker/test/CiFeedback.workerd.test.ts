// CI feedback (issue 20), end to end: the Worker in workerd with its local D1, the GitHub emulator (check suites,
// workflow runs, job logs) and the local machines running the real runner with the `script` agent. A failing check
// suite on Porter's pull request gets one comment naming the failing checks (a redelivery, and GitHub Actions'
// workflow_run for the same suite, add none); with `autofixCi: 1` Porter starts one fix task whose prompt carries the
// failing job's log (its end, a token-shaped line removed), and the fix's own failure gets only a comment;
// `@porter script fix-ci …` starts another; a failing check on someone else's branch gets nothing.
import { assert, layer } from "@effect/vitest"
import { Effect, Option } from "effect"
import {
  ADMIN_TOKEN,
  comment,
  deliveriesAnswered,
  eventually,
  machineOf,
  openIssue,
  porterComments,
  rest,
  Stack,
  tasksOf
} from "./support/Stack.ts"
import * as StackLayer from "./support/Stack.ts"

const TERMINAL = ["succeeded", "failed", "timed_out", "cancelled"]
/** What a leaked credential in a CI log looks like (GitHub's token shape). */
const LEAKED = `ghp_${"Z9y8X7w6".repeat(5)}`
const LOG = [
  ...Array.from(
    { length: 300 },
    (_, i) => `2026-03-02T09:00:${String(i % 60).padStart(2, "0")}Z compiling module ${i}`
  ),
  `echo ${LEAKED}`,
  "FAIL test/dates.test.ts > parses ISO weeks",
  "AssertionError: expected 2026-W05 to parse"
].join("\n")

const ended = (issue: number, count = 1) =>
  eventually(
    `${count} ended task(s) on #${issue}`,
    Effect.map(tasksOf(issue), (tasks) => {
      const done = tasks.filter((task) => TERMINAL.includes(task.state))
      return done.length >= count ? Option.some(done) : Option.none()
    }),
    "90 seconds"
  )

const ciComments = (pr: number) =>
  Effect.map(porterComments(pr), (comments) => comments.filter((c) => c.body.includes("CI failed")))

/** Completes a check suite on `branch` in the emulator (GitHub Actions, "CI") and waits for its webhooks' answers. */
const checkSuite = (branch: string, runs: ReadonlyArray<{ name: string; conclusion: string; log?: string }>) =>
  Effect.gen(function*() {
    const { github, repo } = yield* Stack
    const [owner, name] = repo.split("/")
    const done = yield* Effect.promise(() => github.completeCheckSuite(owner!, name!, { branch, runs }))
    yield* deliveriesAnswered
    return done
  })

layer(StackLayer.layer, { timeout: "300 seconds", excludeTestServices: true })(
  "CI feedback (the Worker in workerd)",
  (it) => {
    it.effect(
      "a failing check on a Porter PR starts a fix task whose prompt carries the failing log",
      () =>
        Effect.gen(function*() {
          const { github, repo, worker, writer } = yield* Stack
          const settings = yield* Effect.promise(() =>
            worker.fetch(`${worker.url}/admin/settings`, {
              method: "PUT",
              headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
              body: JSON.stringify({ scope: `repository:${repo}`, settings: { autofixCi: 1 } })
            })
          )
          assert.strictEqual(settings.status, 200, yield* Effect.promise(() => settings.text()))

          // Porter's pull request.
          const issue = yield* openIssue("Parse ISO weeks")
          yield* comment(writer, issue.number, "@porter script parse ISO weeks")
          const [made] = yield* ended(issue.number)
          assert.strictEqual(made!.state, "succeeded", made!.reason)
          const branch = made!.branch!
          const pr = Number(made!.prUrl!.split("/").at(-1))

          // Its checks fail: GitHub sends workflow_run and check_suite for the suite.
          const suite = yield* checkSuite(branch, [
            { name: "test (node 24)", conclusion: "failure", log: LOG },
            { name: "lint", conclusion: "success", log: "lint ok" }
          ])
          const [fix] = yield* ended(pr)
          assert.strictEqual(fix!.state, "succeeded", fix!.reason)
          assert.strictEqual(fix!.mode, "fix_ci")
          assert.strictEqual(fix!.branch, branch, "the fix went to the pull request's branch")
          assert.strictEqual(fix!.requestedBy, writer.login)
          const prompt = (yield* machineOf(fix!.id)).env["PROMPT"] ?? ""
          assert.include(prompt, "make the pull request's failing CI checks pass")
          assert.include(prompt, "Check: test (node 24) (failure)")
          assert.include(prompt, "FAIL test/dates.test.ts > parses ISO weeks")
          assert.include(prompt, "AssertionError: expected 2026-W05 to parse")
          assert.notInclude(prompt, LEAKED)
          assert.include(prompt, "[line removed by Porter: it held a GitHub token]")
          assert.notInclude(prompt, "lint ok")

          const [said, ...more] = yield* ciComments(pr)
          assert.strictEqual(more.length, 0)
          assert.include(
            said!.body,
            `](${github.url}/${repo}/actions/runs/${suite.workflowRunId}/job/${suite.checkRunIds[0]}) | \`failure\` |`
          )
          assert.include(said!.body, "automatic fix 1 of 1")

          // GitHub redelivers the check_suite webhook: no second comment, no second task.
          const deliveries = yield* deliveriesAnswered
          const suiteDelivery = deliveries.find((d) =>
            d.event === "check_suite" &&
            (d.payload as { check_suite: { id: number } }).check_suite.id === suite.checkSuiteId
          )!
          yield* Effect.promise(() => github.redeliver(suiteDelivery.id))
          yield* Effect.sleep(1_000)
          assert.strictEqual((yield* ciComments(pr)).length, 1)
          assert.strictEqual((yield* tasksOf(pr)).length, 1)

          // The fix's own checks fail: a comment, no automatic fix left.
          yield* checkSuite(branch, [{
            name: "test (node 24)",
            conclusion: "failure",
            log: "AssertionError: still failing"
          }])
          const [, second] = yield* eventually(
            "the second CI comment",
            Effect.map(ciComments(pr), (c) => (c.length >= 2 ? Option.some(c) : Option.none()))
          )
          assert.include(second!.body, "Porter made its 1 automatic fix for this pull request")
          assert.include(second!.body, "Reply `@porter fix-ci`")
          yield* Effect.sleep(1_000)
          assert.strictEqual((yield* tasksOf(pr)).length, 1)

          // Asked for: `@porter script fix-ci` with more words.
          yield* comment(writer, pr, "@porter script fix-ci and keep the old parser")
          const asked = yield* ended(pr, 2)
          const again = asked.find((task) => task.id !== fix!.id)!
          assert.strictEqual(again.mode, "fix_ci")
          assert.strictEqual(again.state, "succeeded", again.reason)
          const againPrompt = (yield* machineOf(again.id)).env["PROMPT"] ?? ""
          assert.include(againPrompt, "AssertionError: still failing")
          assert.include(againPrompt, "and keep the old parser")
        }),
      240_000
    )

    it.effect("a failing check on a branch Porter did not make: nothing", () =>
      Effect.gen(function*() {
        const { admin: owner, repo } = yield* Stack
        const main = yield* rest<{ object: { sha: string } }>(owner.token, "GET", `/repos/${repo}/git/ref/heads/main`)
        const base = yield* rest<{ tree: { sha: string } }>(
          owner.token,
          "GET",
          `/repos/${repo}/git/commits/${main.object.sha}`
        )
        const tree = yield* rest<{ sha: string }>(owner.token, "POST", `/repos/${repo}/git/trees`, {
          base_tree: base.tree.sha,
          tree: [{ path: "mine.txt", mode: "100644", type: "blob", content: "mine\n" }]
        })
        const commit = yield* rest<{ sha: string }>(owner.token, "POST", `/repos/${repo}/git/commits`, {
          message: "Mine",
          tree: tree.sha,
          parents: [main.object.sha]
        })
        yield* rest(owner.token, "POST", `/repos/${repo}/git/refs`, { ref: "refs/heads/feature/mine", sha: commit.sha })
        const pr = yield* rest<{ number: number }>(owner.token, "POST", `/repos/${repo}/pulls`, {
          title: "Mine",
          head: "feature/mine",
          base: "main"
        })
        const suite = yield* checkSuite("feature/mine", [{ name: "test", conclusion: "failure", log: "FAIL" }])
        const answers = (yield* deliveriesAnswered).filter((d) =>
          (d.event === "check_suite" &&
            (d.payload as { check_suite: { id: number } }).check_suite.id === suite.checkSuiteId) ||
          (d.event === "workflow_run" &&
            (d.payload as { workflow_run: { id: number } }).workflow_run.id === suite.workflowRunId)
        )
        assert.deepStrictEqual(answers.map((d) => d.status), [200, 200], "ignored (200), not accepted (202)")
        yield* Effect.sleep(500)
        assert.deepStrictEqual(yield* porterComments(pr.number), [])
        assert.deepStrictEqual(yield* tasksOf(pr.number), [])
      }))
  }
)

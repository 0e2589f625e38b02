/**
 * CI feedback on Porter's pull requests, on the in-memory ports: a failed check suite on a Porter branch → one comment
 * on the PR naming the failing checks (however often the event comes, and under both of GitHub's events), nothing on
 * other branches; `autofixCi` starts fix tasks by itself, never more than it says; `@porter fix-ci` starts one; a fix
 * task's prompt carries the failing log, its end kept, secrets removed.
 */
import { assert, describe, it } from "@effect/vitest"
import {
  CiLogs,
  Commands,
  Event,
  Intake,
  type IssueReader,
  MachineEnv,
  MachineRequest,
  Messages,
  ModelUsage,
  Settings
} from "@porter/core"
import { Fixtures, GitHubRecorder, Machines } from "@porter/testing"
import { Clock, Effect, Schema } from "effect"
import { layer, REPO, storedTask, tasksOf, thread, withKey } from "./support/Lifecycle.ts"

const BRANCH = "porter/1-abcdefgh"
const SHA = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"
const PR = 2
const PR_ISSUE = `${REPO}#${PR}`
/** A GitHub token's shape: what a leaked credential in a CI log looks like. */
const LEAKED = `ghp_${"A1b2C3d4".repeat(5)}`

const decodeEnv = Schema.decodeUnknownSync(MachineEnv.MachineEnv)

/** A long log whose failure is at its end, with a token printed in the middle. */
const LOG = [
  ...Array.from({ length: 400 }, (_, i) => `step ${i}: compiling module ${i} of the date parser`),
  `export GITHUB_TOKEN=${LEAKED}`,
  "FAIL test/date.test.ts > parses ISO weeks",
  "AssertionError: expected 2026-W05 to parse"
].join("\n")

const run = (fields: Partial<IssueReader.CheckRun> & { readonly id: number; readonly name: string }) => ({
  status: "completed",
  conclusion: "failure",
  url: `https://github.com/${REPO}/actions/runs/9/job/${fields.id}`,
  headSha: SHA,
  checkSuiteId: 77,
  actionsJob: true,
  output: "",
  ...fields
})

/** Porter's task that made the pull request (#2, from issue #1) on `BRANCH`; the PR and its checks as GitHub has them. */
const seedPorterPr = (fields: Parameters<typeof storedTask>[0] = {}) =>
  Effect.gen(function*() {
    const task = yield* storedTask({
      state: "succeeded",
      branch: BRANCH,
      prUrl: `https://github.com/${REPO}/pull/${PR}`,
      commitSha: SHA,
      ...fields
    })
    const recorder = yield* GitHubRecorder
    yield* recorder.seedPullRequest(REPO, PR, {
      headBranch: BRANCH,
      headRepoFullName: REPO,
      baseBranch: "main",
      state: "open"
    })
    yield* recorder.seedChecks(REPO, [BRANCH, SHA], [
      { ...run({ id: 501, name: "test (node 24)" }), log: LOG },
      { ...run({ id: 502, name: "lint", conclusion: "success" }), log: "all good" },
      {
        ...run({ id: 503, name: "coverage | report", actionsJob: false, output: "Coverage fell to 71%" }),
        checkSuiteId: 78
      }
    ])
    return task
  })

const failed = (
  options: {
    readonly suite?: number
    readonly branch?: string
    readonly source?: "check_suite" | "workflow_run"
    readonly sha?: string
  } = {}
) =>
  new Event.ChecksFailed({
    deliveryId: Fixtures.deliveryId(),
    repo: Fixtures.repo(REPO),
    source: options.source ?? "check_suite",
    checkSuiteId: options.suite ?? 77,
    name: "CI",
    conclusion: "failure",
    headBranch: options.branch ?? BRANCH,
    headSha: options.sha ?? SHA,
    pullRequests: [PR]
  })

const handle = (event: Event.IncomingEvent) =>
  Effect.gen(function*() {
    const at = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
    yield* (yield* Commands.Commands).handle(event, at)
  })

const ciComments = Effect.map(thread(PR_ISSUE), (comments) => comments.filter((c) => c.body.includes("CI failed")))

const prompts = Effect.map(
  Effect.flatMap(Machines, (machines) => machines.created),
  (created) => created.map((machine) => decodeEnv(machine.spec.env).PROMPT)
)

const autofix = (n: number) => ({
  ...withKey,
  settings: new Settings.RepoSettings({ ...Settings.defaults, autofixCi: n })
})

describe("CiFeedback", () => {
  it.effect("a failed check suite on a Porter PR: one comment naming the failing checks, offering fix-ci", () =>
    Effect.gen(function*() {
      yield* seedPorterPr()
      yield* handle(failed())
      const [comment, ...more] = yield* ciComments
      assert.strictEqual(more.length, 0)
      const body = comment!.body
      assert.include(body, "❌ **CI failed** on this pull request: `CI` ended `failure` on a1b2c3d.")
      assert.include(body, `| [test (node 24)](https://github.com/${REPO}/actions/runs/9/job/501) | \`failure\` |`)
      assert.notInclude(body, "lint", "a passing check is not listed")
      assert.include(body, "Reply `@porter fix-ci`")
      assert.notInclude(body, "automatic", "no autofixCi: nothing starts by itself")
      assert.include(body, Messages.MARKER_PREFIX, "Porter's own comment carries its marker (it never triggers Porter)")
      assert.strictEqual((yield* tasksOf(PR)).length, 0)
    }).pipe(Effect.provide(layer())))

  it.effect("a redelivery, another delivery of the suite, and GitHub Actions' workflow_run for it: still one comment", () =>
    Effect.gen(function*() {
      yield* seedPorterPr()
      const first = failed()
      yield* handle(first)
      yield* handle(first)
      yield* handle(failed())
      yield* handle(failed({ source: "workflow_run" }))
      assert.strictEqual((yield* ciComments).length, 1)
      // Both of GitHub's events for another suite, handled at the same time: one comment (the claim is atomic).
      yield* Effect.all([handle(failed({ suite: 80 })), handle(failed({ suite: 80, source: "workflow_run" }))], {
        concurrency: "unbounded"
      })
      assert.strictEqual((yield* ciComments).length, 2)
      yield* handle(failed({ suite: 78 }))
      const comments = yield* ciComments
      assert.strictEqual(comments.length, 3, "another check suite is another comment")
      assert.include(comments[2]!.body, "coverage \\| report", "a `|` in a name does not break the table")
    }).pipe(Effect.provide(layer())))

  it.effect("a check on a branch Porter did not make: ignored at the intake; a porter/ branch no task made, or a closed PR: nothing", () =>
    Effect.gen(function*() {
      yield* seedPorterPr()
      const intake = yield* Intake.Intake
      const other = yield* intake.accept(failed({ branch: "feature/dates" }))
      assert.deepStrictEqual(other, { _tag: "Ignored", reason: "not a Porter branch" })
      const accepted = yield* intake.accept(failed({ branch: "porter/1-zzzzzzzz" }))
      assert.strictEqual(accepted._tag, "Accepted")
      yield* handle(failed({ branch: "porter/1-zzzzzzzz" }))
      yield* handle(failed({ branch: "porter/x" }))
      // Porter's branch, but its pull request was closed since the checks started.
      yield* (yield* GitHubRecorder).seedPullRequest(REPO, PR, {
        headBranch: BRANCH,
        headRepoFullName: REPO,
        baseBranch: "main",
        state: "closed"
      })
      yield* handle(failed())
      assert.strictEqual((yield* thread(PR_ISSUE)).length, 0)
      assert.strictEqual((yield* (yield* Machines).created).length, 0)
    }).pipe(Effect.provide(layer())))

  it.effect("autofixCi: 1 — one fix task, its prompt carrying the failing log (end kept, token removed); then only a comment", () =>
    Effect.gen(function*() {
      const porterTask = yield* seedPorterPr()
      yield* handle(failed())
      const [first] = yield* ciComments
      assert.include(first!.body, "Porter is starting a fix by itself, with the failing logs (automatic fix 1 of 1")
      const [fix, ...others] = yield* tasksOf(PR)
      assert.strictEqual(others.length, 0)
      assert.strictEqual(fix!.mode, "fix_ci")
      assert.strictEqual(fix!.headBranch, BRANCH, "a follow-up on the pull request's branch")
      assert.strictEqual(fix!.requestedBy.login, porterTask.requestedBy.login)
      assert.strictEqual(fix!.agent, porterTask.agent)
      const [prompt] = yield* prompts
      assert.include(prompt!, "make the pull request's failing CI checks pass")
      assert.include(prompt!, "Check: test (node 24) (failure)")
      assert.include(prompt!, "AssertionError: expected 2026-W05 to parse", "the log's end is in the prompt")
      assert.notInclude(prompt!, "step 0: compiling", "the log's start is trimmed")
      assert.match(prompt!, /\[… \d+ earlier lines left out\]/)
      assert.notInclude(prompt!, LEAKED)
      assert.include(prompt!, "[line removed by Porter: it held a GitHub token]")
      assert.notInclude(prompt!, "all good", "a passing check's log is not sent")
      const status = (yield* thread(PR_ISSUE)).find((c) => Messages.parseMarker(c.body)?.id === fix!.id)
      assert.include(status!.body, "A fix for this pull request's failing checks (`fix-ci`)")

      // The fix's own checks fail (another suite, on the fix's commit): a comment, no second task.
      yield* handle(failed({ suite: 78, sha: "f1e2d3c4b5a6978812345678909876543210abcd" }))
      const comments = yield* ciComments
      assert.strictEqual(comments.length, 2)
      assert.include(comments[1]!.body, "Porter made its 1 automatic fix for this pull request")
      assert.include(comments[1]!.body, "Reply `@porter fix-ci`")
      assert.strictEqual((yield* tasksOf(PR)).length, 1)
      assert.strictEqual((yield* prompts).length, 1)
    }).pipe(Effect.provide(layer(autofix(1)))))

  it.effect("autofixCi: 2 — two workflows failing on one commit start one fix (it gets every failing check)", () =>
    Effect.gen(function*() {
      yield* seedPorterPr()
      yield* handle(failed())
      yield* handle(failed({ suite: 78 }))
      const [first, second] = yield* ciComments
      assert.include(first!.body, "automatic fix 1 of 2")
      assert.include(second!.body, "An earlier failure on this commit already had its turn at an automatic fix")
      assert.include(second!.body, "Reply `@porter fix-ci`")
      assert.strictEqual((yield* tasksOf(PR)).length, 1)
      const [prompt] = yield* prompts
      assert.include(prompt!, "Check: test (node 24) (failure)")
      assert.include(prompt!, "Check: coverage | report (failure)")
      assert.include(prompt!, "Coverage fell to 71%", "an external check's output is its log")
      // A later commit fails again: the second automatic fix.
      const later = "f1e2d3c4b5a6978812345678909876543210abcd"
      yield* (yield* GitHubRecorder).seedChecks(REPO, [later], [{
        ...run({ id: 601, name: "test" }),
        checkSuiteId: 79
      }])
      yield* handle(failed({ suite: 79, sha: later }))
      assert.include((yield* ciComments)[2]!.body, "automatic fix 2 of 2")
      assert.strictEqual((yield* tasksOf(PR)).length, 2)
    }).pipe(Effect.provide(layer(autofix(2)))))

  it.effect("no automatic fix past the monthly budget: the comment says why", () =>
    Effect.gen(function*() {
      const porterTask = yield* seedPorterPr()
      const usage = yield* ModelUsage.UsageStore
      yield* usage.record(
        new ModelUsage.ModelCall({
          taskId: porterTask.id,
          repo: REPO,
          userId: porterTask.requestedBy.id,
          provider: "anthropic",
          model: "claude-sonnet-4-5",
          inputTokens: 1,
          outputTokens: 1,
          cacheReadTokens: 0,
          cacheWriteTokens: 0,
          costUsd: 2,
          estimated: false,
          at: yield* Clock.currentTimeMillis
        })
      )
      yield* handle(failed())
      const [spent] = yield* ciComments
      assert.include(spent!.body, "No automatic fix. Nothing was started: $2.00 is spent of")
      assert.include(spent!.body, "Reply `@porter fix-ci`")
      assert.strictEqual((yield* tasksOf(PR)).length, 0)
    }).pipe(Effect.provide(layer({
      ...withKey,
      settings: new Settings.RepoSettings({ ...Settings.defaults, autofixCi: 1, repoMonthlyBudgetUsd: 1 })
    }))))

  it.effect("no automatic fix for a PR from an outsider's approved request, nor for a suite without failing runs", () =>
    Effect.gen(function*() {
      yield* seedPorterPr({ approvedBy: "maintainer" })
      yield* handle(failed())
      assert.include(
        (yield* ciComments)[0]!.body,
        "No automatic fix. This pull request comes from a request that needed approval"
      )
      assert.strictEqual((yield* tasksOf(PR)).length, 0)
      // A workflow that could not start (startup_failure) has no job to read.
      yield* seedPorterPr({ branch: "porter/1-zzzzzzzz" })
      yield* handle(failed({ suite: 99, branch: "porter/1-zzzzzzzz" }))
      assert.include((yield* ciComments)[1]!.body, "No automatic fix. No failing check of this suite could be listed")
      assert.strictEqual((yield* tasksOf(PR)).length, 0)
    }).pipe(Effect.provide(layer(autofix(1)))))

  it.effect("autofixCi from .github/porter.yml on the base branch", () =>
    Effect.gen(function*() {
      yield* seedPorterPr()
      yield* (yield* GitHubRecorder).seedFile(REPO, ".github/porter.yml", "autofixCi: 2\n")
      yield* handle(failed())
      assert.include((yield* ciComments)[0]!.body, "automatic fix 1 of 2")
      assert.strictEqual((yield* tasksOf(PR)).length, 1)
    }).pipe(Effect.provide(layer())))

  it.effect("@porter fix-ci on the PR: a fix task with the logs and the extra words; refused where it cannot work", () =>
    Effect.gen(function*() {
      yield* seedPorterPr()
      yield* handle(Fixtures.commentCreated({
        body: "@porter fix-ci the date test is flaky on Mondays",
        issueNumber: PR,
        isPullRequest: true
      }))
      const [fix] = yield* tasksOf(PR)
      assert.strictEqual(fix!.mode, "fix_ci")
      assert.strictEqual(fix!.headBranch, BRANCH)
      const [prompt] = yield* prompts
      assert.include(prompt!, "the date test is flaky on Mondays")
      assert.include(prompt!, "AssertionError: expected 2026-W05 to parse")

      yield* handle(Fixtures.commentCreated({ body: "@porter fix-ci", issueNumber: 1 }))
      assert.include((yield* thread(`${REPO}#1`)).at(-1)!.body, "`fix-ci` works on a pull request")

      const recorder = yield* GitHubRecorder
      yield* recorder.seedPullRequest(REPO, 5, {
        headBranch: "green",
        headRepoFullName: REPO,
        baseBranch: "main",
        state: "open"
      })
      yield* handle(Fixtures.commentCreated({ body: "@porter fix-ci", issueNumber: 5, isPullRequest: true }))
      assert.include(
        (yield* thread(`${REPO}#5`)).at(-1)!.body,
        "No check is failing on `green` now: nothing was started."
      )
      // The installation cannot read checks (its new permissions not accepted): the reply says so.
      yield* recorder.failNext("checkRuns", 1, 403)
      yield* handle(Fixtures.commentCreated({ body: "@porter fix-ci", issueNumber: PR, isPullRequest: true }))
      assert.include((yield* thread(PR_ISSUE)).at(-1)!.body, "Porter could not read this pull request's checks")
      assert.strictEqual((yield* prompts).length, 1)
    }).pipe(Effect.provide(layer())))
})

describe("ChecksFailed", () => {
  it("round-trips as the stored delivery the sweep retries (the event's JSON)", () => {
    const event = failed()
    const stored = JSON.stringify(event)
    assert.deepStrictEqual(Schema.decodeUnknownSync(Event.IncomingEventFromJson)(stored), event)
  })
})

describe("CiLogs", () => {
  it("trimLog keeps the end, from a line's start, and says what it left out", () => {
    const text = ["one", "two", "three", "four"].join("\n")
    assert.strictEqual(CiLogs.trimLog(text, 100), text)
    const long = Array.from({ length: 100 }, (_, i) => `line ${i}`).join("\n")
    const trimmed = CiLogs.trimLog(long, 60)
    assert.isAtMost(trimmed.length, 60)
    assert.match(trimmed, /^\[… \d+ earlier lines left out\]\nline \d+\n/)
    assert.isTrue(trimmed.endsWith("line 98\nline 99"))
    assert.strictEqual(CiLogs.trimLog("\u001b[31mFAIL\u001b[0m date.test.ts\r\n", 100), "FAIL date.test.ts")
  })

  it("scrub names what a line held, never the value", () => {
    const scrubbed = CiLogs.scrub(`ok\nkey sk-ant-${"x".repeat(30)}\nsecret=hunter2hunter2`, {
      scan: (line) =>
        line.includes("hunter2hunter2") ? { what: "the value of PASSWORD" } : line.includes("sk-ant-")
          ? { what: "an Anthropic API key" }
          : undefined
    })
    assert.strictEqual(
      scrubbed,
      "ok\n[line removed by Porter: it held an Anthropic API key]\n[line removed by Porter: it held the value of PASSWORD]"
    )
  })

  it("the issue a Porter branch was made for", () => {
    assert.strictEqual(MachineRequest.issueOfBranch("porter/12-abcdefgh"), 12)
    assert.isUndefined(MachineRequest.issueOfBranch("feature/12-abcdefgh"))
    assert.isUndefined(MachineRequest.issueOfBranch("porter/x-1"))
  })
})

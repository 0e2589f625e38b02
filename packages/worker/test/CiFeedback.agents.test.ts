/**
 * CI feedback with Claude Code for real (issue 20's acceptance): the Worker in workerd, the GitHub emulator, a process
 * machine running the pinned Claude Code CLI against the scripted model server through Porter's gateway. Claude Code
 * opens a pull request; its checks fail (an Actions job with a log); with `autofixCi: 1` Porter starts a fix task on
 * the PR's branch, and the model server receives the failing log in the fix run's conversation; the fix is pushed to
 * the same pull request.
 */
import { assert, layer } from "@effect/vitest"
import * as ModelServer from "@porter/testkit/model"
import { Effect, Option } from "effect"
import { Model } from "./support/ModelStack.ts"
import * as ModelStack from "./support/ModelStack.ts"
import { ADMIN_TOKEN, comment, deliveriesAnswered, eventually, openIssue, Stack, tasksOf } from "./support/Stack.ts"

const TERMINAL = ["succeeded", "failed", "timed_out", "cancelled"]
const FAILURE = "AssertionError: expected parseWeek('2026-W05') to be 2026-01-26"

const ended = (issue: number) =>
  eventually(
    `a task on #${issue} to end`,
    Effect.map(tasksOf(issue), (tasks) => Option.fromNullishOr(tasks.find((t) => TERMINAL.includes(t.state)))),
    "200 seconds"
  )

layer(ModelStack.layer, { timeout: "240 seconds", excludeTestServices: true })("CI feedback with Claude Code", (it) => {
  it.effect(
    "a failing check on Claude Code's PR starts a fix whose conversation carries the failing log",
    () =>
      Effect.gen(function*() {
        const model = yield* Model
        const { github, repo, worker, writer } = yield* Stack
        const set = yield* Effect.promise(() =>
          worker.fetch(`${worker.url}/admin/settings`, {
            method: "PUT",
            headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
            body: JSON.stringify({ scope: `repository:${repo}`, settings: { autofixCi: 1 } })
          })
        )
        assert.strictEqual(set.status, 200)

        model.setScript([
          ModelServer.write("week.js", "export const parseWeek = () => null\n"),
          ModelServer.text("Added parseWeek.")
        ])
        const issue = yield* openIssue("Parse ISO weeks")
        yield* comment(writer, issue.number, "@porter claude add parseWeek")
        const made = yield* ended(issue.number)
        assert.strictEqual(made.state, "succeeded", made.reason)
        const pr = Number(made.prUrl!.split("/").at(-1))

        model.setScript([
          ModelServer.write("week.js", "export const parseWeek = (w) => w === '2026-W05' ? '2026-01-26' : null\n"),
          ModelServer.text("Fixed parseWeek for the failing test.")
        ])
        const seen = model.requests().length
        const [owner, name] = repo.split("/")
        yield* Effect.promise(() =>
          github.completeCheckSuite(owner!, name!, {
            branch: made.branch!,
            runs: [{ name: "test", conclusion: "failure", log: `npm test\nFAIL week.test.js\n${FAILURE}\n` }]
          })
        )
        yield* deliveriesAnswered
        const fix = yield* ended(pr)
        assert.strictEqual(fix.mode, "fix_ci")
        assert.strictEqual(fix.agent, "claude")
        assert.strictEqual(fix.state, "succeeded", fix.reason)
        assert.strictEqual(fix.branch, made.branch, "pushed to the pull request's branch")

        // What Claude Code sent the model in the fix run: the failing log is in the conversation.
        const calls = model.requests().slice(seen).filter((r) => r.turn !== undefined)
        assert.isAtLeast(calls.length, 1)
        const first = JSON.stringify(calls[0]!.body)
        assert.include(first, FAILURE)
        assert.include(first, "make the pull request's failing CI checks pass")
      }),
    240_000
  )
})

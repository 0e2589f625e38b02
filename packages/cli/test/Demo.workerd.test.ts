// `porter demo` end to end, as `npm run demo` runs it: a child process, nothing configured, nothing on the network
// but loopback. Claude Code (a root devDependency) runs against the scripted model when installed.
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { existsSync } from "node:fs"
import * as path from "node:path"
import { cliRoot, lines, porter } from "./support/Porter.ts"

const claudeInstalled = existsSync(path.join(cliRoot, "..", "..", "node_modules", ".bin", "claude"))

describe("porter demo", () => {
  it.live(
    "runs a task from a signed comment to a pull request, prints the thread and the diff, exits 0",
    () =>
      Effect.gen(function*() {
        const ran = yield* Effect.promise(() => porter(["demo"], { timeoutMs: 150_000 }))
        assert.strictEqual(ran.code, 0, `${ran.stdout}\n${ran.stderr}`)

        // Progress: one line per step, each with its time, on stderr.
        const progress = lines(ran.stderr)
        assert.match(progress[0]!, /^porter demo: Porter end to end on this machine, offline/)
        assert.include(progress[0]!, claudeInstalled ? "Claude Code" : "the script agent")
        for (const step of ["bundled the Worker", "GitHub emulator on", "Worker in workerd on", "sample repository"]) {
          assert.isTrue(progress.some((line) => /^ {2}✓ +\d+\.\ds {2}/.test(line) && line.includes(step)), step)
        }
        for (const state of ["queued", "provisioning", "running", "succeeded"]) {
          assert.isTrue(progress.some((line) => new RegExp(`task task_\\w+ ${state}$`).test(line)), state)
        }
        assert.match(
          progress.at(-2)!,
          /^porter demo: done in \d+\.\ds — pull request #\d+ is open: http:\/\/127\.0\.0\.1:\d+\//
        )
        // It ends with the task's page in the web app.
        assert.match(
          progress.at(-1)!,
          /^porter demo: the task's page: http:\/\/127\.0\.0\.1:\d+\/app\/tasks\/task_\w+$/
        )

        // The thread as a user would see it: the issue, the request with Porter's 👀, Porter's ✅ with the PR link.
        const out = ran.stdout
        assert.include(out, "admin/hello#1 · greet() forgets the exclamation mark")
        assert.include(out, "@alice commented   [👀 porter[bot]]")
        assert.include(
          out,
          `@porter ${claudeInstalled ? "claude" : "script"} make greet() end with an exclamation mark`
        )
        const prUrl = /\*\*Pull request:\*\* (http:\/\/127\.0\.0\.1:\d+\/admin\/hello\/pull\/(\d+))/.exec(out)
        assert.isNotNull(prUrl, "the status comment links the pull request")
        assert.include(out, "@porter[bot] commented\n    ✅ ")
        assert.notInclude(out, "<!-- porter:", "hidden markers are not shown")
        if (claudeInstalled) assert.match(out, /Usage: [\d,]+ input \/ [\d,]+ output tokens/)

        // The pull request and its diff: greet.js fixed.
        assert.include(out, `Pull request #${prUrl![2]} · `)
        assert.include(out, `${prUrl![1]}   porter/1-`)
        assert.include(out, "diff --git a/greet.js b/greet.js")
        assert.include(out, "-export const greet = (name) => `Hello, ${name}`")
        assert.include(out, "+export const greet = (name) => `Hello, ${name}!`")
        assert.notInclude(out + ran.stderr, "sk-ant-porter-demo", "the fake key is never printed")
      }),
    180_000
  )
})

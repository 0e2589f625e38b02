/**
 * Acceptance: the runner drives the real Claude Code CLI (`node_modules/.bin/claude`, the pinned
 * version) against the scripted Anthropic server from `@porter/testkit/model`: the CLI writes a
 * file and runs a command through its own tools, the runner commits it and sends it to the fake Porter as a change
 * set, and the `completed` callback carries Claude Code's usage figures.
 */
import { assert, layer } from "@effect/vitest"
import { ExitCode } from "@porter/runner"
import * as ModelServer from "@porter/testkit/model"
import { Effect } from "effect"
import { existsSync } from "node:fs"
import { join } from "node:path"
import { Fixture } from "./support/Fixture.ts"
import { newTaskId, promptFor, runnerRoot, runRunner, taskEnv, tempDir } from "./support/Harness.ts"

const binDir = join(runnerRoot, "..", "..", "node_modules", ".bin")
const claude = join(binDir, "claude")

const apiKey = "sk-ant-api03-scripted-fake-key-0000000000"

layer(Fixture.layer, { excludeTestServices: true, timeout: 120_000 })("runner + real Claude Code CLI", (it) => {
  it.effect("Claude Code writes a file and runs a command; the runner proposes it to Porter and reports usage", () =>
    Effect.gen(function*() {
      assert.isTrue(
        existsSync(claude),
        `${claude} is missing: @anthropic-ai/claude-code is a pinned root devDependency, so the install is broken (run npm ci)`
      )
      const { entry, forge, porter } = yield* Fixture
      const model = yield* ModelServer.start({
        script: [
          ModelServer.write("src/greeting.txt", "Hello from Claude Code\n"),
          ModelServer.bash("git status --short && echo checked"),
          ModelServer.text("Added src/greeting.txt with a greeting.")
        ]
      })
      const repo = yield* Effect.promise(() => forge.createRepo("claude"))
      const taskId = newTaskId()
      const env = taskEnv({
        taskId,
        repo,
        porter,
        agent: "claude",
        model: "sonnet",
        issueTitle: "Greet the world",
        prompt: promptFor("add a greeting file", "Greet the world"),
        heartbeatMs: 1_000,
        extra: {
          PATH: `${binDir}:${process.env["PATH"] ?? ""}`,
          HOME: tempDir("porter-claude-home-"),
          ANTHROPIC_BASE_URL: model.url,
          ANTHROPIC_API_KEY: apiKey
        }
      })
      const exit = yield* Effect.promise(() => runRunner(env, { entry, timeoutMs: 100_000 }))
      assert.strictEqual(exit.code, ExitCode.Ok, `${exit.stdout}\n${exit.stderr}`)

      // The CLI really talked to the scripted server, with the key it was given.
      const turns = model.requests().filter((r) => r.turn !== undefined)
      assert.deepStrictEqual(turns.map((r) => r.turn), [0, 1, 2])
      assert.strictEqual(turns[0]!.headers["x-api-key"], apiKey)
      // The prompt reached the model (it goes to the CLI on standard input, not as an argument).
      assert.include(JSON.stringify(turns[0]!.body), "add a greeting file")
      // The Bash tool ran in the clone: its output went back to the model.
      assert.include(JSON.stringify(turns[2]!.body), "checked")

      // The work reached Porter as a change set (Porter committed it on the task branch), with the summary.
      const branch = env["BRANCH"]!
      const sent = porter.changes(taskId)
      assert.strictEqual(sent.length, 1)
      const changeSet = sent[0]!.changeSet!
      assert.strictEqual(changeSet.summary, "Added src/greeting.txt with a greeting.")
      assert.deepStrictEqual(
        changeSet.commits.flatMap((commit) => commit.changes),
        [{
          _tag: "write",
          path: "src/greeting.txt",
          mode: "100644",
          content: Buffer.from("Hello from Claude Code\n").toString("base64")
        }]
      )
      assert.include(changeSet.commits[0]!.message, "Changes left by Claude Code (sonnet) for #7")
      assert.strictEqual(forge.git(repo, ["show", `${branch}:src/greeting.txt`]), "Hello from Claude Code")
      const completed = porter.completed(taskId)!
      assert.strictEqual(completed["outcome"], "pushed")
      assert.strictEqual(completed["summary"], "Added src/greeting.txt with a greeting.")

      // Usage: what the server counted is what Claude Code reported and the runner passed on.
      const usage = completed["usage"] as Record<string, number>
      const served = model.usage()
      assert.strictEqual(usage["inputTokens"], served.inputTokens)
      assert.strictEqual(usage["outputTokens"], served.outputTokens)
      assert.strictEqual(usage["turns"], 3)
      assert.isAbove(usage["costUsd"]!, 0)
      assert.notInclude(porter.received(taskId).map((r) => r.raw).join("\n") + exit.stdout, apiKey)
    }).pipe(Effect.scoped))

  it.effect("a CLI that fails (the API answers 404) is reported as agent_failed with its own message", () =>
    Effect.gen(function*() {
      const { entry, forge, porter } = yield* Fixture
      const model = yield* ModelServer.start({ script: [] })
      const repo = yield* Effect.promise(() => forge.createRepo("claude-fails"))
      const taskId = newTaskId()
      const env = taskEnv({
        taskId,
        repo,
        porter,
        agent: "claude",
        prompt: promptFor("anything"),
        extra: {
          PATH: `${binDir}:${process.env["PATH"] ?? ""}`,
          HOME: tempDir("porter-claude-home-"),
          // No API under this path: every call is a 404, which Claude Code does not retry.
          ANTHROPIC_BASE_URL: `${model.url}/nowhere`,
          ANTHROPIC_API_KEY: apiKey
        }
      })
      const exit = yield* Effect.promise(() => runRunner(env, { entry, timeoutMs: 100_000 }))
      assert.strictEqual(exit.code, ExitCode.AgentFailed, `${exit.stdout}\n${exit.stderr}`)
      const completed = porter.completed(taskId)!
      assert.strictEqual(completed["outcome"], "agent_failed")
      assert.match(String(completed["error"]), /^Claude Code exited with code 1: ./)
      assert.include(String(completed["logTail"]), String(completed["error"]))
      assert.isAbove(model.requests().length, 0)
      assert.isTrue(model.requests().every((r) => r.turn === undefined))
    }).pipe(Effect.scoped))
})

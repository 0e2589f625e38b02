/**
 * The other agent CLIs, real and pinned (root devDependencies at the AgentCatalog's versions, so
 * `npm ci` installs them into node_modules/.bin), run by the runner with the catalog's own
 * invocation against the scripted model server:
 *
 * - Codex (`codex exec`) over the OpenAI Responses API (`OPENAI_BASE_URL`: Codex 0.169 ignores the
 *   variable itself; the runner's AgentSetup turns it into a provider in `~/.codex/config.toml`).
 * - Gemini CLI (`gemini -p`) over the Gemini API (`GOOGLE_GEMINI_BASE_URL`; headless it needs the
 *   `~/.gemini/settings.json` AgentSetup writes: API-key auth, no folder-trust gate).
 * - OpenCode (`opencode run`) over the Anthropic API (`ANTHROPIC_BASE_URL`). It spends 10–25 s
 *   starting up on a busy 2-core machine, so it runs only with PORTER_SLOW_AGENT_TESTS=1.
 *
 * Amp is not here: `amp -x` talks to the Amp service's own API (`AMP_URL`: `/api/internal?getUserInfo`,
 * plugins, threads), not to a model API, so no local model server can stand in for it.
 *
 * A CLI missing from node_modules/.bin fails its test: it is in the lockfile, so missing means a broken
 * install (run `npm ci`). Tests never install anything.
 */
import { assert, layer } from "@effect/vitest"
import { AgentCatalog } from "@porter/core"
import { ExitCode } from "@porter/runner"
import * as ModelServer from "@porter/testkit/model"
import { Effect } from "effect"
import { existsSync, mkdirSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { Fixture } from "./support/Fixture.ts"
import { newTaskId, promptFor, runnerRoot, runRunner, taskEnv, tempDir } from "./support/Harness.ts"

const binDir = join(runnerRoot, "..", "..", "node_modules", ".bin")

/** A HOME holding `files` (`$URL` replaced by the model server's URL). */
const homeWith = (url: string, files: Record<string, string>): string => {
  const home = tempDir("porter-agent-home-")
  for (const [file, content] of Object.entries(files)) {
    mkdirSync(dirname(join(home, file)), { recursive: true })
    writeFileSync(join(home, file), content.replaceAll("$URL", url))
  }
  return home
}

interface AgentCase {
  readonly agent: string
  readonly pkg: string
  readonly slow?: boolean
  readonly env: (url: string) => Record<string, string>
  readonly home: Record<string, string>
}

const cases: ReadonlyArray<AgentCase> = [
  {
    // The runner turns OPENAI_BASE_URL into ~/.codex/config.toml (AgentSetup).
    agent: "codex",
    pkg: "@openai/codex",
    env: (url) => ({ OPENAI_API_KEY: "sk-proj-scripted-fake-key-000000", OPENAI_BASE_URL: `${url}/v1` }),
    home: {}
  },
  {
    // The runner writes ~/.gemini/settings.json (AgentSetup).
    agent: "gemini",
    pkg: "@google/gemini-cli",
    env: (url) => ({ GEMINI_API_KEY: "gemini-scripted-fake-key-000000", GOOGLE_GEMINI_BASE_URL: url }),
    home: {}
  },
  {
    agent: "opencode",
    pkg: "opencode-ai",
    slow: true,
    env: (url) => ({
      ANTHROPIC_API_KEY: "sk-ant-scripted-fake-key-000000",
      ANTHROPIC_BASE_URL: url,
      OPENCODE_DISABLE_MODELS_FETCH: "1",
      OPENCODE_DISABLE_AUTOUPDATE: "1",
      OPENCODE_DISABLE_LSP_DOWNLOAD: "1",
      OPENCODE_DISABLE_DEFAULT_PLUGINS: "1"
    }),
    home: {}
  }
]

const slowOn = process.env["PORTER_SLOW_AGENT_TESTS"] === "1"

layer(Fixture.layer, { excludeTestServices: true, timeout: 120_000 })("runner + other agent CLIs", (it) => {
  for (const c of cases) {
    if (c.slow && !slowOn) {
      it.effect.skip(`${c.agent}: skipped (slow start-up; PORTER_SLOW_AGENT_TESTS=1 runs it)`, () => Effect.void)
      continue
    }
    it.effect(
      `${c.agent}: writes a file and runs a command through its own tools; proposed to Porter`,
      () =>
        Effect.gen(function*() {
          const bin = join(binDir, c.agent)
          assert.isTrue(
            existsSync(bin),
            `${bin} is missing: ${c.pkg} is a pinned root devDependency, so the install is broken (run npm ci)`
          )
          const { entry, forge, porter } = yield* Fixture
          const model = yield* ModelServer.start({
            script: [
              ModelServer.write("hello.txt", `Hello from ${c.agent}`),
              ModelServer.bash("echo ran > ran.txt"),
              ModelServer.text(`${c.agent} added hello.txt and ran.txt.`)
            ]
          })
          const repo = yield* Effect.promise(() => forge.createRepo(`with-${c.agent}`))
          const taskId = newTaskId()
          const env = taskEnv({
            taskId,
            repo,
            porter,
            agent: c.agent,
            // What Porter.dispatch sends: the requested model or the catalog's default.
            model: AgentCatalog.builtInAgents.find((a) => a.name === c.agent)!.defaultModel!,
            prompt: promptFor("add hello.txt"),
            extra: {
              PATH: `${binDir}:${process.env["PATH"] ?? ""}`,
              HOME: homeWith(model.url, c.home),
              ...c.env(model.url)
            }
          })
          const exit = yield* Effect.promise(() => runRunner(env, { entry, timeoutMs: 110_000 }))
          assert.strictEqual(exit.code, ExitCode.Ok, `${exit.stdout}\n${exit.stderr}`)
          const turns = model.requests().filter((r) => r.turn !== undefined)
          assert.deepStrictEqual(turns.map((r) => r.turn), [0, 1, 2])
          // The prompt reached the model (on the CLI's standard input for Codex and Gemini CLI).
          assert.include(JSON.stringify(turns[0]!.body), "add hello.txt")
          const branch = env["BRANCH"]!
          assert.strictEqual(forge.git(repo, ["show", `${branch}:hello.txt`]).trim(), `Hello from ${c.agent}`)
          assert.strictEqual(forge.git(repo, ["show", `${branch}:ran.txt`]), "ran")
          const completed = porter.completed(taskId)!
          assert.strictEqual(completed["outcome"], "pushed")
          assert.include(String(completed["summary"]), `${c.agent} added hello.txt and ran.txt.`)
          const sent = porter.changes(taskId)
          assert.strictEqual(sent.length, 1)
          assert.deepStrictEqual(
            sent[0]!.changeSet!.commits.flatMap((commit) => commit.changes.map((change) => change.path)).sort(),
            ["hello.txt", "ran.txt"]
          )
        }).pipe(Effect.scoped),
      120_000
    )
  }
})

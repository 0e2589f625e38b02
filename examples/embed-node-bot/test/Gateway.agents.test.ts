/**
 * Every gateway agent, for real, through Porter's model gateway in a Node host (this bot: `NodeHttpServer`, SQLite):
 * a writer's comment runs Claude Code, Codex, Gemini CLI or OpenCode (the pinned CLIs from node_modules/.bin) in a
 * local process machine that holds no provider key — only the gateway URL and the task's gateway credential —
 * against the scripted model server, which the bot's gateway reaches with the stored key (`porter.gateway.upstreams`).
 * The pull request is opened and the final status comment reports the gateway's tokens and cost.
 *
 * OpenCode spends 10–25 s starting up on a busy 2-core machine; it runs here all the same (the gateway's acceptance
 * names every agent), but only with PORTER_SLOW_AGENT_TESTS=1 in the runner's own agent tests.
 */
import { assert, layer } from "@effect/vitest"
import { Bot } from "@porter-examples/embed-node-bot"
import { type AdminApi, Messages, PorterConfig } from "@porter/core"
import { GitHubEmulator } from "@porter/testkit"
import * as ModelServer from "@porter/testkit/model"
import { Context, Effect, Layer, Option, Redacted } from "effect"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { delimiter, dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { admin, ADMIN_TOKEN, eventually, porterComments, rest, restAt, Stack } from "./support.ts"

const KEYS = {
  ANTHROPIC_API_KEY: "sk-ant-api03-GATEWAY-node-real-key-0001",
  OPENAI_API_KEY: "sk-proj-GATEWAY-node-real-key-0002",
  GEMINI_API_KEY: "AIzaGATEWAY-node-real-key-0003"
}

const binDir = fileURLToPath(new URL("../../../node_modules/.bin", import.meta.url))

class Model extends Context.Service<Model, ModelServer.Server>()("embed-node-bot/test/Gateway/Model") {}

const GatewayStack = Layer.effect(
  Stack,
  Effect.gen(function*() {
    const model = yield* Model
    const github = yield* GitHubEmulator.start()
    const owner = github.admin
    yield* restAt(github.url, owner.token, "POST", "/user/repos", { name: "widgets", auto_init: true })
    const repo = `${owner.login}/widgets`
    const writer = yield* Effect.promise(() => github.createUser("wendy"))
    yield* restAt(github.url, owner.token, "PUT", `/repos/${repo}/collaborators/${writer.login}`, {
      permission: "push"
    })
    const dataDir = yield* Effect.acquireRelease(
      Effect.promise(() => mkdtemp(join(tmpdir(), "embed-bot-gateway-"))),
      (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
    )
    const services = yield* Layer.build(Bot.layer({
      port: 0,
      storage: { _tag: "sqlite", dataDir },
      github: {
        apiUrl: github.url,
        credentials: {
          _tag: "App",
          appId: String(github.app.id),
          privateKey: Redacted.make(github.app.privateKeyPkcs1)
        },
        webhook: { secret: Redacted.make(github.app.webhookSecret) }
      },
      // Machines find the pinned agent CLIs, then this Node.
      machines: {
        _tag: "local",
        options: { path: [binDir, dirname(process.execPath), process.env["PATH"] ?? ""].join(delimiter) }
      },
      secrets: Object.fromEntries(Object.entries(KEYS).map(([name, value]) => [name, Redacted.make(value)])),
      porter: {
        gateway: {
          ...PorterConfig.defaults.gateway,
          upstreams: { anthropic: model.url, openai: `${model.url}/v1`, gemini: model.url }
        }
      },
      adminToken: Redacted.make(ADMIN_TOKEN),
      logRequests: false
    })).pipe(Effect.orDie)
    const bot = Context.get(services, Bot.Bot)
    yield* Effect.promise(() => github.setWebhook(bot.webhookUrl))
    return Stack.of({ github, bot, repo, owner, writer })
  })
).pipe(Layer.provideMerge(Layer.effect(Model, ModelServer.start({ script: [] }))))

const agents: ReadonlyArray<{ readonly agent: string; readonly header: string; readonly key: string }> = [
  { agent: "claude", header: "x-api-key", key: KEYS.ANTHROPIC_API_KEY },
  { agent: "codex", header: "authorization", key: `Bearer ${KEYS.OPENAI_API_KEY}` },
  { agent: "gemini", header: "x-goog-api-key", key: KEYS.GEMINI_API_KEY },
  { agent: "opencode", header: "x-api-key", key: KEYS.ANTHROPIC_API_KEY }
]

layer(GatewayStack, { timeout: "240 seconds", excludeTestServices: true })(
  "agents through the gateway (Node host)",
  (it) => {
    for (const c of agents) {
      it.effect(
        `${c.agent}: a pull request; the provider gets the stored key; the report's tokens and cost are the gateway's`,
        () =>
          Effect.gen(function*() {
            const model = yield* Model
            const { owner, repo, writer } = yield* Stack
            model.setScript([
              ModelServer.write("hello.txt", `Hello from ${c.agent}\n`),
              ModelServer.text(`${c.agent} added hello.txt.`)
            ])
            const before = model.usage()
            const seenBefore = model.requests().length
            const issue = yield* rest<{ readonly number: number }>(owner.token, "POST", `/repos/${repo}/issues`, {
              title: `Say hello (${c.agent})`,
              body: ""
            })
            yield* rest(writer.token, "POST", `/repos/${repo}/issues/${issue.number}/comments`, {
              body: `@porter ${c.agent} add hello.txt`
            })
            const task = yield* eventually(
              `the ${c.agent} task to end`,
              Effect.map(
                admin<{ readonly tasks: ReadonlyArray<AdminApi.TaskView> }>(
                  `/admin/tasks?repo=${encodeURIComponent(repo)}`
                ),
                ({ tasks }) =>
                  Option.fromNullishOr(
                    tasks.find((t) =>
                      t.issueNumber === issue.number &&
                      ["succeeded", "failed", "timed_out", "cancelled"].includes(t.state)
                    )
                  )
              ),
              "200 seconds"
            )
            assert.strictEqual(task.state, "succeeded", task.reason)
            assert.include(task.prUrl ?? "", "/pull/")

            // The provider got the stored key in its own header; the agent's requests carried the gateway credential only.
            const calls = model.requests().slice(seenBefore).filter((r) => r.turn !== undefined)
            assert.isAtLeast(calls.length, 2)
            for (const call of calls) assert.strictEqual(call.headers[c.header], c.key)

            const served = model.usage()
            const usage = task.usage!
            assert.strictEqual(usage.inputTokens, served.inputTokens - before.inputTokens)
            assert.strictEqual(usage.outputTokens, served.outputTokens - before.outputTokens)
            assert.isAbove(usage.costUsd ?? 0, 0)
            const [status] = yield* porterComments(issue.number)
            assert.strictEqual(Messages.parseMarker(status!.body)?.state, "succeeded")
            assert.include(status!.body, `Usage: ${Messages.formatUsage(usage)}`)
            console.log(`${c.agent} (Node host): ${Messages.formatUsage(usage)} (${calls.length} model calls)`)
          }),
        240_000
      )
    }
  }
)

// Porter's MCP server (@porter/mcp) served by the Node bot at /mcp: a token made on the web app's tokens page (the
// same in-memory store) opens an MCP session, and list_tasks answers with the user's tasks.
import { assert, it } from "@effect/vitest"
import { Bot } from "@porter-examples/embed-node-bot"
import { GitHubEmulator } from "@porter/testkit"
import { Browser } from "@porter/testkit/browser"
import { ConfigProvider, Context, Effect, Layer, Redacted } from "effect"

it.live(
  "the bot serves /mcp: a personal token from /app/tokens, then an MCP session and list_tasks",
  () =>
    Effect.gen(function*() {
      const github = yield* GitHubEmulator.start()
      const owner = github.admin
      yield* Effect.promise(() =>
        GitHubEmulator.rest(owner.token, "POST", `${github.url}/user/repos`, { name: "widgets", auto_init: true })
      )
      const services = yield* Layer.build(Bot.layer({
        port: 0,
        storage: { _tag: "memory" },
        github: {
          apiUrl: github.url,
          credentials: {
            _tag: "App",
            appId: String(github.app.id),
            privateKey: Redacted.make(github.app.privateKeyPkcs1)
          },
          webhook: { secret: Redacted.make(github.app.webhookSecret) }
        },
        sweepIntervalMs: false,
        logRequests: false
      })).pipe(
        Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({
          GITHUB_OAUTH_CLIENT_ID: github.oauth.clientId,
          GITHUB_OAUTH_CLIENT_SECRET: github.oauth.clientSecret,
          GITHUB_WEB_URL: github.url,
          GITHUB_API_URL: github.url,
          PORTER_SESSION_SECRET: "an-embedded-bot-session-secret-0123456789"
        }))),
        Effect.orDie
      )
      const bot = Context.get(services, Bot.Bot)
      github.oauth.signInAs(owner.login)

      // Sign in (the OAuth web flow), then make a token on /app/tokens.
      const { token } = yield* Effect.promise(() => new Browser(bot.url).makeToken(owner.login, "editor"))

      // MCP over Streamable HTTP, by hand: initialize (a session), initialized, then a tool call.
      const post = (body: unknown, session?: string) =>
        fetch(`${bot.url}/mcp`, {
          method: "POST",
          headers: {
            authorization: `Bearer ${token}`,
            "content-type": "application/json",
            accept: "application/json, text/event-stream",
            ...(session !== undefined ? { "mcp-session-id": session, "mcp-protocol-version": "2025-11-25" } : {})
          },
          body: JSON.stringify(body)
        })
      const json = async (response: Response) => {
        const text = await response.text()
        return JSON.parse(text.startsWith("data:") ? text.replace(/^data: /, "").split("\n")[0]! : text)
      }
      const init = yield* Effect.promise(() =>
        post({
          jsonrpc: "2.0",
          id: 1,
          method: "initialize",
          params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "test", version: "1" } }
        })
      )
      assert.strictEqual(init.status, 200)
      const session = init.headers.get("mcp-session-id")!
      assert.strictEqual((yield* Effect.promise(() => json(init))).result.serverInfo.name, "porter")
      yield* Effect.promise(() => post({ jsonrpc: "2.0", method: "notifications/initialized" }, session))
      const listed = yield* Effect.promise(() =>
        post({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "list_tasks", arguments: {} } }, session)
          .then(json)
      )
      assert.isFalse(listed.result.isError ?? false, JSON.stringify(listed))
      assert.deepStrictEqual(listed.result.structuredContent, { tasks: [] })

      const anonymous = yield* Effect.promise(() =>
        fetch(`${bot.url}/mcp`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" })
      )
      assert.strictEqual(anonymous.status, 401)
    }).pipe(Effect.scoped),
  60_000
)

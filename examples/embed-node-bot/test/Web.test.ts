// The web app (@porter/web) served by the Node bot beside Porter's API: configured from the environment (here a
// ConfigProvider), signing in through the GitHub emulator's OAuth flow, sessions in the bot's memory.
import { assert, it } from "@effect/vitest"
import { Bot } from "@porter-examples/embed-node-bot"
import { GitHubEmulator } from "@porter/testkit"
import { Browser } from "@porter/testkit/browser"
import { ConfigProvider, Context, Effect, Layer, Redacted } from "effect"

it.live("the bot serves the web app: sign in with GitHub, then the task list", () =>
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

    const browser = new Browser(bot.url)
    const start = yield* Effect.promise(() => browser.fetch("/login/github"))
    // The callback is the bot's public URL (its bound one here).
    const authorize = new URL(start.headers.get("location")!)
    assert.strictEqual(authorize.searchParams.get("redirect_uri"), `${bot.publicUrl}/oauth/callback`)
    const tasks = yield* Effect.promise(() => browser.signIn(owner.login, "/app/tasks"))
    assert.isDefined(browser.cookie(new URL(bot.url).host, "porter_session"), `signed in (${tasks.status})`)
    assert.include(tasks.text, `@${owner.login}`)
    assert.include(tasks.text, "<h1>Tasks</h1>")
  }).pipe(Effect.scoped), 60_000)

// The bot's configuration from environment variables (`main.ts` runs exactly `Bot.layerConfig`).
import { assert, describe, it } from "@effect/vitest"
import { Bot } from "@porter-examples/embed-node-bot"
import { Cause, ConfigProvider, Context, Effect, Exit, Layer, Redacted } from "effect"
import * as Support from "./support.ts"

const withEnv = (env: Record<string, string>) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.provide(effect, ConfigProvider.layer(ConfigProvider.fromEnv({ env })))

const minimal = { GITHUB_WEBHOOK_SECRET: "whsec", GITHUB_TOKEN: "ghp_example" }

describe("the bot's configuration", () => {
  it.effect("defaults: port 3000 on loopback, local machines, api.github.com, the personal token", () =>
    Effect.gen(function*() {
      const options = yield* Bot.config
      assert.deepStrictEqual([options.port, options.host, options.publicUrl], [3000, "127.0.0.1", undefined])
      assert.deepStrictEqual(options.machines?._tag, "local")
      assert.strictEqual(options.github.apiUrl, "https://api.github.com")
      assert.strictEqual(options.github.credentials._tag, "Token")
      assert.strictEqual(Bot.gitUrlFor(options.github.apiUrl!), "https://github.com")
      assert.deepStrictEqual(options.secrets, {})
      assert.strictEqual(options.adminToken, undefined)
      assert.deepStrictEqual(options.storage, { _tag: "sqlite", dataDir: ".porter-data", synchronous: "NORMAL" })
    }).pipe(withEnv(minimal)))

  it.effect("storage: PostgreSQL with DATABASE_URL, SQLite in PORTER_DATA_DIR, or memory", () =>
    Effect.gen(function*() {
      const postgres = yield* Bot.config.pipe(withEnv({ ...minimal, DATABASE_URL: "postgres://bot@db/porter" }))
      assert.strictEqual(postgres.storage?._tag, "postgres")
      if (postgres.storage?._tag === "postgres") {
        assert.strictEqual(Redacted.value(postgres.storage.url), "postgres://bot@db/porter")
      }
      const sqlite = yield* Bot.config.pipe(
        withEnv({ ...minimal, PORTER_DATA_DIR: "/var/lib/bot", PORTER_SQLITE_SYNCHRONOUS: "FULL" })
      )
      assert.deepStrictEqual(sqlite.storage, { _tag: "sqlite", dataDir: "/var/lib/bot", synchronous: "FULL" })
      const memory = yield* Bot.config.pipe(withEnv({ ...minimal, PORTER_STORAGE: "memory" }))
      assert.deepStrictEqual(memory.storage, { _tag: "memory" })
    }))

  it.effect("App mode, Docker machines, port 0, agent keys become secrets, GHES git URL", () =>
    Effect.gen(function*() {
      const options = yield* Bot.config
      assert.strictEqual(options.port, 0)
      assert.strictEqual(options.github.credentials._tag, "App")
      assert.deepStrictEqual(options.machines, {
        _tag: "docker",
        options: { host: "tcp://127.0.0.1:2375", image: "porter-runner:dev", network: undefined, instance: undefined }
      })
      assert.deepStrictEqual(Object.keys(options.secrets ?? {}), ["ANTHROPIC_API_KEY"])
      assert.strictEqual(Redacted.value(options.secrets!["ANTHROPIC_API_KEY"]!), "sk-ant-example")
      assert.strictEqual(String(options.secrets!["ANTHROPIC_API_KEY"]), "<redacted>")
      assert.strictEqual(Bot.gitUrlFor(options.github.apiUrl!), "https://ghe.example.com")
      assert.strictEqual(options.sweepIntervalMs, 5000)
    }).pipe(withEnv({
      GITHUB_WEBHOOK_SECRET: "whsec",
      GITHUB_APP_ID: "12345",
      GITHUB_APP_PRIVATE_KEY: "-----BEGIN RSA PRIVATE KEY-----\n…",
      GITHUB_API_URL: "https://ghe.example.com/api/v3",
      PORT: "0",
      PORTER_MACHINES: "docker",
      DOCKER_HOST: "tcp://127.0.0.1:2375",
      PORTER_MACHINE_IMAGE: "porter-runner:dev",
      PORTER_SWEEP_INTERVAL_MS: "5000",
      ANTHROPIC_API_KEY: "sk-ant-example"
    })))

  it.effect("refuses to start without a webhook secret, with a bad port or an unknown provisioner", () =>
    Effect.gen(function*() {
      // Each refusal names the variable to fix.
      const cases: ReadonlyArray<readonly [Record<string, string>, string]> = [
        [{ GITHUB_TOKEN: "ghp_example" }, "GITHUB_WEBHOOK_SECRET"],
        [{ ...minimal, GITHUB_WEBHOOK_SECRET: "  " }, "GITHUB_WEBHOOK_SECRET"],
        [{ GITHUB_WEBHOOK_SECRET: "whsec" }, "GITHUB_TOKEN"],
        [{ ...minimal, GITHUB_APP_ID: "1" }, "GITHUB_APP_PRIVATE_KEY"],
        [{ ...minimal, PORT: "70000" }, "PORT"],
        [{ ...minimal, PORTER_MACHINES: "fly" }, "PORTER_MACHINES"],
        [{ ...minimal, PORTER_STORAGE: "postgres" }, "DATABASE_URL"],
        [{ ...minimal, PORTER_STORAGE: "mysql" }, "PORTER_STORAGE"]
      ]
      for (const [env, variable] of cases) {
        const exit = yield* Effect.exit(
          Effect.gen(function*() {
            return yield* Bot.config
          }).pipe(withEnv(env))
        )
        assert.isTrue(Exit.isFailure(exit), JSON.stringify(env))
        if (Exit.isFailure(exit)) assert.include(Cause.pretty(exit.cause), `"${variable}"`, JSON.stringify(env))
      }
    }))

  it.live("layerConfig starts the bot on the port asked for (0: any) and serves its page", () =>
    Effect.gen(function*() {
      const context = yield* Layer.build(Bot.layerConfig).pipe(Effect.orDie)
      const bot = Context.get(context, Bot.Bot)
      assert.match(bot.url, /^http:\/\/127\.0\.0\.1:\d+$/)
      assert.strictEqual(bot.webhookUrl, "https://porter.example.com/webhooks/github")
      const page = yield* Support.call(`${bot.url}/`)
      assert.strictEqual(page.status, 200)
      assert.strictEqual((page.body as { machines: string }).machines, "local")
    }).pipe(
      withEnv({ ...minimal, PORT: "0", PORTER_PUBLIC_URL: "https://porter.example.com/", PORTER_STORAGE: "memory" })
    ))
})

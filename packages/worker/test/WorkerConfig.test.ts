import { assert, describe, it } from "@effect/vitest"
import { PorterConfig, TaskTokens } from "@porter/core"
import * as WorkerConfig from "@porter/worker/config"
import { Cause, ConfigProvider, Effect, Exit, Layer, Redacted } from "effect"

const withEnv = (env: Record<string, unknown>) =>
  Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromUnknown(env))

const db = { prepare: () => undefined }
const complete = {
  DB: db,
  PORTER_PUBLIC_URL: "https://porter.example.dev",
  GITHUB_WEBHOOK_SECRET: "whsec",
  PORTER_ENCRYPTION_KEY: "a2V5",
  FLY_APP_NAME: "porter-runs",
  GITHUB_APP_ID: "1",
  GITHUB_APP_PRIVATE_KEY: "pem"
}

describe("missing", () => {
  it("is empty for a complete environment, with App or personal-token credentials", () => {
    assert.deepStrictEqual(WorkerConfig.missing(complete), [])
    const { GITHUB_APP_ID: _id, GITHUB_APP_PRIVATE_KEY: _key, ...rest } = complete
    assert.deepStrictEqual(WorkerConfig.missing({ ...rest, GITHUB_TOKEN: "ghp_x" }), [])
  })

  it("names every missing or blank setting once, with how to set it, never a value", () => {
    const problems = WorkerConfig.missing({
      PORTER_PUBLIC_URL: "   ",
      FLY_APP_NAME: "x",
      GITHUB_APP_PRIVATE_KEY: "secret-pem"
    })
    assert.deepStrictEqual(problems.map((p) => p.split(" ")[0]), [
      "DB",
      "PORTER_PUBLIC_URL",
      "GITHUB_WEBHOOK_SECRET",
      "PORTER_ENCRYPTION_KEY",
      "GITHUB_APP_ID"
    ])
    assert.include(problems[0], "d1_databases")
    assert.include(problems[1], "`vars.PORTER_PUBLIC_URL` in wrangler.jsonc")
    assert.include(problems[2], "`wrangler secret put GITHUB_WEBHOOK_SECRET`")
    assert.notInclude(problems.join("\n"), "secret-pem")
  })

  it("wants the key with an App id, and credentials of some kind", () => {
    assert.match(
      WorkerConfig.missing({ ...complete, GITHUB_APP_PRIVATE_KEY: "" })[0]!,
      /^GITHUB_APP_PRIVATE_KEY is not set/
    )
    const { GITHUB_APP_ID: _id, GITHUB_APP_PRIVATE_KEY: _key, ...none } = complete
    assert.match(WorkerConfig.missing(none)[0]!, /^GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY are not set/)
  })
})

describe("describeFailure", () => {
  it.effect("turns config errors into one line naming the variable", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(
        Layer.build(WorkerConfig.porterConfigLayer).pipe(
          Effect.scoped,
          withEnv({ PORTER_PUBLIC_URL: "https://x", PORTER_MACHINE_CPUS: "two" })
        )
      )
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) {
        const [line] = WorkerConfig.describeFailure(exit.cause)
        assert.match(line!, /^PORTER_MACHINE_CPUS is not valid \(expected /)
        assert.notInclude(line!, "two")
      }
      const missing = yield* Effect.exit(Layer.build(WorkerConfig.porterConfigLayer).pipe(Effect.scoped, withEnv({})))
      if (Exit.isFailure(missing)) {
        assert.deepStrictEqual(WorkerConfig.describeFailure(missing.cause), ["PORTER_PUBLIC_URL is not set"])
      } else assert.fail("expected a failure")
      assert.deepStrictEqual(
        WorkerConfig.describeFailure(Cause.fail(new WorkerConfig.StartupError({ problems: ["a", "b"] }))),
        ["a; b"]
      )
    }))
})

describe("the task-token secret", () => {
  const key = "q0XyFzUm3u6cUOdXmQwq3eX2sVnOQm4a4cEHcQ9nSxk="

  it.effect("is derived from the encryption key: stable, and not the key", () =>
    Effect.gen(function*() {
      const a = yield* WorkerConfig.deriveTaskTokenSecret(Redacted.make(key))
      const b = yield* WorkerConfig.deriveTaskTokenSecret(Redacted.make(`  ${key}\n`))
      const other = yield* WorkerConfig.deriveTaskTokenSecret(
        Redacted.make("bm90IHRoZSBzYW1lIGtleSBhdCBhbGwsIDMyIGJ5dGVz")
      )
      assert.strictEqual(Redacted.value(a), Redacted.value(b))
      assert.notStrictEqual(Redacted.value(a), Redacted.value(other))
      assert.notInclude(Redacted.value(a), key.slice(0, 12))
      assert.match(Redacted.value(a), /^[A-Za-z0-9_-]{43}$/)
      const source = yield* WorkerConfig.taskTokenSecret.pipe(withEnv({ PORTER_ENCRYPTION_KEY: key }))
      assert.strictEqual(source.source, "derived")
      assert.strictEqual(Redacted.value(source.secret), Redacted.value(a))
    }))

  it.effect("PORTER_TASK_TOKEN_SECRET wins when set; tokens verify against the secret they were issued with", () =>
    Effect.gen(function*() {
      const explicit = yield* WorkerConfig.taskTokenSecret.pipe(
        withEnv({ PORTER_ENCRYPTION_KEY: key, PORTER_TASK_TOKEN_SECRET: "explicit-secret" })
      )
      assert.strictEqual(explicit.source, "explicit")
      assert.strictEqual(Redacted.value(explicit.secret), "explicit-secret")
      const tokens = yield* Layer.build(WorkerConfig.taskTokensLayer).pipe(
        Effect.map((context) => context.mapUnsafe.get(TaskTokens.TaskTokens.key) as TaskTokens.TaskTokens["Service"]),
        Effect.scoped,
        withEnv({ PORTER_ENCRYPTION_KEY: key })
      )
      const token = Redacted.value(yield* tokens.issue("task_01"))
      assert.isTrue(yield* tokens.verify("task_01", token))
      assert.isFalse(yield* tokens.verify("task_02", token))
    }))
})

describe("porterConfigLayer", () => {
  it.effect("adds the heartbeat interval and the machine environment to core's configuration", () =>
    Effect.gen(function*() {
      const config = yield* PorterConfig.PorterConfig.pipe(
        Effect.provide(WorkerConfig.porterConfigLayer),
        withEnv({
          PORTER_PUBLIC_URL: "https://porter.example.dev/",
          PORTER_HEARTBEAT_TIMEOUT_MS: "4000",
          PORTER_HEARTBEAT_INTERVAL_MS: "1000",
          PORTER_MACHINE_ENV: "{\"ANTHROPIC_BASE_URL\":\"http://127.0.0.1:9999\"}"
        })
      )
      assert.strictEqual(config.publicUrl, "https://porter.example.dev")
      assert.strictEqual(config.heartbeatTimeoutMs, 4000)
      assert.strictEqual(config.heartbeatIntervalMs, 1000)
      assert.deepStrictEqual(config.machineEnv, { ANTHROPIC_BASE_URL: "http://127.0.0.1:9999" })
      const defaults = yield* PorterConfig.PorterConfig.pipe(
        Effect.provide(WorkerConfig.porterConfigLayer),
        withEnv({ PORTER_PUBLIC_URL: "https://porter.example.dev" })
      )
      assert.strictEqual(defaults.heartbeatIntervalMs, PorterConfig.defaults.heartbeatIntervalMs)
      assert.deepStrictEqual(defaults.machineEnv, {})
    }))

  it.effect("refuses a PORTER_MACHINE_ENV that is not a JSON object of strings", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(
        PorterConfig.PorterConfig.pipe(
          Effect.provide(WorkerConfig.porterConfigLayer),
          withEnv({ PORTER_PUBLIC_URL: "https://x", PORTER_MACHINE_ENV: "{\"A\":1}" })
        )
      )
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) {
        assert.match(WorkerConfig.describeFailure(exit.cause)[0]!, /^PORTER_MACHINE_ENV is not valid/)
      }
    }))
})

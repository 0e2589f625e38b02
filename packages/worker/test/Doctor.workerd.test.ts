// The doctor's checks, run from Node the way `porter doctor` does, against the GitHub emulator, the local Fly
// machines server and a local D1: one pass/fail line per check, saying what to fix.
import { assert, layer } from "@effect/vitest"
import { EncryptionKeys } from "@porter/d1"
import * as D1Testing from "@porter/d1/testing"
import { GitHubEmulator } from "@porter/testkit"
import * as MachinesServer from "@porter/testkit/fly"
import * as Doctor from "@porter/worker/doctor"
import { Context, Effect, Layer } from "effect"
import { FetchHttpClient } from "effect/http"
import { SqlClient } from "effect/sql"
import { generateKeyPairSync } from "node:crypto"

class Services extends Context.Service<Services, {
  readonly github: GitHubEmulator.Emulator
  readonly machines: MachinesServer.Server
  readonly env: Readonly<Record<string, string>>
}>()("@porter/worker/test/DoctorServices") {}

const ServicesLive = Layer.effect(
  Services,
  Effect.gen(function*() {
    const github = yield* GitHubEmulator.start()
    const machines = yield* MachinesServer.start()
    return Services.of({
      github,
      machines,
      env: {
        PORTER_PUBLIC_URL: "https://porter.example.dev",
        GITHUB_API_URL: github.url,
        GITHUB_APP_ID: String(github.app.id),
        GITHUB_APP_PRIVATE_KEY: github.app.privateKeyPkcs1,
        GITHUB_WEBHOOK_SECRET: github.app.webhookSecret,
        PORTER_ENCRYPTION_KEY: EncryptionKeys.generate(),
        PORTER_ADMIN_TOKEN: "a".repeat(40),
        FLY_APP_NAME: machines.app,
        FLY_API_TOKEN: machines.token,
        FLY_API_URL: machines.url
      }
    })
  })
)

const run = (
  env: Readonly<Record<string, unknown>>,
  options: Omit<Doctor.Options, "sql"> & { readonly sql?: boolean } = {}
) =>
  Effect.gen(function*() {
    const sql = options.sql === false ? undefined : yield* SqlClient.SqlClient
    const report = yield* Doctor.run(env, { ...options, sql })
    const check = (name: string) => {
      const found = report.checks.find((c) => c.name === name)
      assert.isDefined(found, `a "${name}" check`)
      return found!
    }
    return { report, check }
  }).pipe(Effect.provide(FetchHttpClient.layer))

layer(Layer.mergeAll(ServicesLive, D1Testing.layer()), { timeout: "60 seconds", excludeTestServices: true })(
  "Doctor",
  (it) => {
    it.effect("passes every check on a correct configuration", () =>
      Effect.gen(function*() {
        const { env, github } = yield* Services
        const { check, report } = yield* run(env)
        assert.isTrue(report.ok, Doctor.render(report))
        assert.deepStrictEqual(
          report.checks.map((c) => c.status),
          report.checks.map(() => "pass"),
          Doctor.render(report)
        )
        assert.include(check("GitHub").message, `App ${github.app.id} (${github.app.slug})`)
        assert.include(check("D1").message, "0001_init.sql")
        assert.include(check("Fly").message, "the token is accepted")
        assert.match(Doctor.render(report), /^✓ configuration: .*\nAll required checks passed\.$/s)
      }))

    it.effect("says what to fix for each broken setting, and never shows a secret", () =>
      Effect.gen(function*() {
        const { env } = yield* Services
        const shortKey = "c2hvcnQta2V5LW5vdC0zMi1ieXRlcw=="
        const otherKey = String(
          generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs1", format: "pem" })
        )
        const { check, report } = yield* run({
          ...env,
          PORTER_PUBLIC_URL: "http://porter.example.dev",
          GITHUB_APP_PRIVATE_KEY: otherKey,
          GITHUB_WEBHOOK_SECRET: "short",
          PORTER_ENCRYPTION_KEY: shortKey,
          PORTER_ADMIN_TOKEN: "",
          FLY_API_TOKEN: "fo1_not_the_right_token",
          PORTER_HEARTBEAT_INTERVAL_MS: "200000"
        })
        assert.isFalse(report.ok)
        assert.strictEqual(check("public URL").status, "warn")
        assert.include(check("public URL").message, "use https")
        assert.strictEqual(check("webhook secret").status, "warn")
        assert.strictEqual(check("GitHub").status, "fail")
        assert.include(check("GitHub").message, "the private key does not belong to that App id")
        assert.strictEqual(check("encryption key").status, "fail")
        assert.include(check("encryption key").message, "must be the base64 of 32 random bytes")
        assert.strictEqual(check("admin token").status, "fail")
        assert.strictEqual(check("Fly").status, "fail")
        assert.include(check("Fly").message, "Fly rejected the API token (401")
        assert.strictEqual(check("heartbeat").status, "warn")
        const text = Doctor.render(report)
        for (const secret of [shortKey, "fo1_not_the_right_token", "short\n", otherKey.slice(40, 80)]) {
          assert.notInclude(text, secret)
        }
        assert.match(text, /Some checks failed: fix the lines marked ✗\.$/)
      }))

    it.effect("missing settings, offline: Fly is not called, the D1 check is skipped without a database", () =>
      Effect.gen(function*() {
        const { env, machines } = yield* Services
        const { FLY_API_TOKEN: _token, GITHUB_WEBHOOK_SECRET: _secret, ...rest } = env
        const before = machines.requests().length
        const { check, report } = yield* run(rest, { offline: true, sql: false })
        assert.isFalse(report.ok)
        assert.strictEqual(machines.requests().length, before)
        const offline = yield* run({ ...rest, FLY_API_TOKEN: "fo1_any" }, { offline: true, sql: false })
        assert.strictEqual(offline.check("Fly").status, "skip")
        assert.strictEqual(machines.requests().length, before)
        assert.strictEqual(check("configuration").status, "fail")
        assert.include(check("configuration").message, "GITHUB_WEBHOOK_SECRET is not set")
        assert.notInclude(check("configuration").message, "DB ", "no binding is expected outside the Worker")
        assert.strictEqual(check("webhook secret").status, "fail")
        assert.strictEqual(check("GitHub").status, "pass")
        assert.include(check("GitHub").message, "offline")
        assert.strictEqual(check("Fly").status, "fail")
        assert.include(check("Fly").message, "FLY_API_TOKEN is not set")
        assert.strictEqual(check("D1").status, "skip")
      }))

    it.effect("a D1 without the migrations is reported with the command that applies them", () =>
      Effect.gen(function*() {
        const { env } = yield* Services
        const { check } = yield* run(env).pipe(Effect.provide(D1Testing.layer({ migrations: false })))
        assert.strictEqual(check("D1").status, "fail")
        assert.include(check("D1").message, "wrangler d1 migrations apply porter --remote")
        assert.include(check("D1").message, "missing tasks, deliveries")
      }))
  }
)

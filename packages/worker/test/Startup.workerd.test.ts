// Startup in workerd with a broken configuration: every request is answered 503 with lines that name each missing
// or unusable variable (never a value), the cron logs instead of throwing, and the doctor still answers.
import { assert, describe, it } from "@effect/vitest"
import * as Local from "@porter/worker/local"
import { Effect } from "effect"
import { ADMIN_TOKEN, workerEnvFor } from "./support/Env.ts"

const bundle = Effect.promise(() => Local.bundle())

const startWith = (script: string, env: Record<string, string>) => Local.start({ script, env }).pipe(Effect.orDie)

const get = (worker: Local.LocalWorker, path: string, token?: string) =>
  Effect.promise(async () => {
    const response = await worker.fetch(
      `${worker.url}${path}`,
      token ? { headers: { authorization: `Bearer ${token}` } } : {}
    )
    return { status: response.status, body: await response.json() as Record<string, unknown> }
  })

const without = (env: Record<string, string>, ...names: ReadonlyArray<string>) =>
  Object.fromEntries(Object.entries(env).filter(([name]) => !names.includes(name)))

describe("startup in workerd", () => {
  it.live(
    "names every missing variable, answers 503, keeps the doctor and logs the cron",
    () =>
      Effect.gen(function*() {
        const script = yield* bundle
        const complete = workerEnvFor({ github: "http://127.0.0.1:9" })
        const env = {
          ...without(complete, "GITHUB_WEBHOOK_SECRET", "PORTER_ENCRYPTION_KEY", "FLY_APP_NAME"),
          GITHUB_APP_ID: "  "
        }
        const worker = yield* startWith(script.code, env)

        const health = yield* get(worker, "/healthz")
        assert.strictEqual(health.status, 503)
        const problems = health.body["problems"] as ReadonlyArray<string>
        assert.lengthOf(problems, 4)
        assert.match(
          problems[0]!,
          /^GITHUB_WEBHOOK_SECRET is not set \(a secret: `wrangler secret put GITHUB_WEBHOOK_SECRET`\)/
        )
        assert.match(problems[1]!, /^PORTER_ENCRYPTION_KEY is not set/)
        assert.match(problems[2]!, /^FLY_APP_NAME is not set \(a variable: `vars.FLY_APP_NAME` in wrangler.jsonc\)/)
        assert.match(problems[3]!, /^GITHUB_APP_ID is not set/, "a blank value counts as missing")
        assert.include(String(health.body["error"]), "Porter is not configured")
        // A webhook is refused the same way (GitHub shows the 503 and its text in the App's deliveries).
        const webhook = yield* Effect.promise(async () =>
          (await worker.fetch(`${worker.url}/webhooks/github`, { method: "POST", body: "{}" })).status
        )
        assert.strictEqual(webhook, 503)

        // The doctor runs anyway, behind the admin token, and says what to fix.
        assert.strictEqual((yield* get(worker, "/admin/doctor")).status, 401)
        const doctor = yield* get(worker, "/admin/doctor", ADMIN_TOKEN)
        assert.strictEqual(doctor.status, 503)
        const text = String(doctor.body["text"])
        assert.include(text, "✗ webhook secret: GITHUB_WEBHOOK_SECRET is not set")
        assert.include(text, "✗ encryption key: PORTER_ENCRYPTION_KEY is not set")
        assert.include(text, "✓ D1: migrated")

        // The cron does not throw; it says why it skipped the sweep.
        yield* Effect.promise(() => worker.scheduled())
        assert.isTrue(
          worker.logs().some((line) => line.message.includes("watchdog sweep skipped: Porter is not configured"))
        )
        assert.isTrue(worker.logs().some((line) => line.message.includes("FLY_APP_NAME is not set")))
      }).pipe(Effect.scoped),
    60_000
  )

  it.live("a variable that is present but unusable is named, its value never shown", () =>
    Effect.gen(function*() {
      const script = yield* bundle
      const complete = workerEnvFor({ github: "http://127.0.0.1:9" })
      const badKey = "c2hvcnQta2V5LW5vdC0zMi1ieXRlcw=="
      const cases: ReadonlyArray<readonly [Record<string, string>, RegExp, string]> = [
        [
          { ...complete, PORTER_ENCRYPTION_KEY: badKey },
          /PORTER_ENCRYPTION_KEY \(key k1\) must be the base64 of 32 random bytes/,
          badKey
        ],
        [
          {
            ...complete,
            GITHUB_APP_PRIVATE_KEY: "-----BEGIN RSA PRIVATE KEY-----\nbm90IGEga2V5\n-----END RSA PRIVATE KEY-----"
          },
          /GitHub App private key could not be imported/,
          "bm90IGEga2V5"
        ],
        [
          { ...complete, PORTER_HEARTBEAT_TIMEOUT_MS: "five minutes" },
          /^PORTER_HEARTBEAT_TIMEOUT_MS is not valid/,
          "five minutes"
        ]
      ]
      for (const [env, expected, secret] of cases) {
        const worker = yield* startWith(script.code, env)
        const health = yield* get(worker, "/healthz")
        assert.strictEqual(health.status, 503)
        const problems = health.body["problems"] as ReadonlyArray<string>
        assert.isTrue(problems.some((p) => expected.test(p)), `expected ${expected} in ${JSON.stringify(problems)}`)
        assert.notInclude(JSON.stringify(health.body), secret)
        assert.notInclude(worker.logs().map((line) => line.message).join("\n"), secret)
        yield* Effect.promise(() => worker.close())
      }
    }).pipe(Effect.scoped), 60_000)
})

/**
 * `porter doctor`: checks a deployment's configuration, each check one pass/fail line that says what to fix.
 *
 *   configuration       every required variable, secret and binding is there
 *   public URL          `PORTER_PUBLIC_URL` is an absolute http(s) URL (https unless loopback)
 *   webhook secret      set, not blank, long enough
 *   GitHub App          the key parses and signs a JWT; GitHub accepts it (`GET /app`); or a personal token works
 *   encryption key      base64 of 32 bytes (and the retired keys, if any)
 *   task tokens         explicit secret or derived from the encryption key
 *   admin token         set and long enough
 *   model gateway       each provider's upstream (`PORTER_GATEWAY_*_URL`) is an http(s) URL (https unless loopback);
 *                       says that machines hold no provider key, Amp's excepted (its CLI talks only to Amp's service)
 *   Fly                 the deploy-wide token is accepted for `FLY_APP_NAME` (one authenticated list call)
 *   D1                  the migrations were applied (Porter's tables exist)
 *   heartbeat           the runner's interval is well under the watchdog's timeout
 *
 * The checks that call GitHub and Fly are in `DoctorRemoteChecks`; a check's shape and verdicts in `DoctorCheck`.
 *
 * Platform-free: the Worker serves it at `GET /admin/doctor` (with its D1 binding); the CLI can run it against
 * an env file (without D1, that check is skipped). Messages name variables, never their values.
 *
 * Cannot: check what only a real event shows — that GitHub's webhook URL points here, or that the runner image
 * starts on Fly. `porter demo` and a first `@porter help` comment do.
 */
import { Diagnostics, PorterConfig, Providers } from "@porter/core"
import { EncryptionKeys } from "@porter/d1"
import { Cause, Config, ConfigProvider, Duration, Effect, Option } from "effect"
import type { HttpClient } from "effect/http"
import type { SqlClient } from "effect/sql"
import { type Check, fail, pass, skip, text, warn } from "./DoctorCheck.ts"
import { fly, github } from "./DoctorRemoteChecks.ts"
import * as WorkerConfig from "./WorkerConfig.ts"

export type { Check, Status } from "./DoctorCheck.ts"

/** The doctor's findings, in the order the checks ran. */
export interface Report {
  /** No check failed (warnings allowed). */
  readonly ok: boolean
  readonly checks: ReadonlyArray<Check>
}

/** What the doctor may use besides the Worker's variables. */
export interface Options {
  /** SQL on the deployment's D1; without it the migration check is skipped. */
  readonly sql?: SqlClient.SqlClient | undefined
  /** Skip the checks that call GitHub or Fly. */
  readonly offline?: boolean | undefined
  /** Per network check (default 15 s). */
  readonly timeout?: Duration.Input | undefined
  /** Running inside the Worker: the `DB` binding is expected in `env` (the CLI has none). */
  readonly inWorker?: boolean | undefined
}

/** The tables migration 0001 creates. */
export const TABLES = ["tasks", "deliveries", "task_events", "secrets", "settings"] as const

const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/

const publicUrl = (env: Readonly<Record<string, unknown>>): Check => {
  const name = "public URL"
  const value = text(env, "PORTER_PUBLIC_URL")
  if (value === undefined) {
    return fail(name, "PORTER_PUBLIC_URL is not set: set it to the Worker's URL in wrangler.jsonc `vars`")
  }
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return fail(name, "PORTER_PUBLIC_URL is not an absolute URL: write it like https://porter.example.workers.dev")
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    return fail(name, `PORTER_PUBLIC_URL must be http(s), not ${url.protocol}`)
  }
  if (url.search !== "" || url.hash !== "") return fail(name, "PORTER_PUBLIC_URL must not have a query or fragment")
  if (url.protocol === "http:" && !LOOPBACK.test(url.hostname)) {
    return warn(name, `${url.origin} is plain http: machines send their callback tokens there; use https`)
  }
  return pass(name, `callbacks go to ${url.origin}${url.pathname.replace(/\/+$/, "")}/callbacks/tasks/…`)
}

const webhookSecret = (env: Readonly<Record<string, unknown>>): Check => {
  const name = "webhook secret"
  const value = text(env, "GITHUB_WEBHOOK_SECRET")
  if (value === undefined) {
    return fail(
      name,
      "GITHUB_WEBHOOK_SECRET is not set: `wrangler secret put GITHUB_WEBHOOK_SECRET` with the " +
        "webhook secret of the GitHub App (every webhook is refused until then)"
    )
  }
  if (value.length < 20) {
    return warn(
      name,
      `GITHUB_WEBHOOK_SECRET is short (${value.length} characters): use at least 20 random ` +
        "characters (`openssl rand -hex 32`), in the App settings and here"
    )
  }
  return pass(name, `set (${value.length} characters)`)
}

const adminToken = (env: Readonly<Record<string, unknown>>): Check => {
  const name = "admin token"
  const value = text(env, "PORTER_ADMIN_TOKEN")
  if (value === undefined) {
    return fail(
      name,
      "PORTER_ADMIN_TOKEN is not set: the admin API (secrets, settings, tasks) is off. " +
        "`openssl rand -hex 32 | wrangler secret put PORTER_ADMIN_TOKEN`"
    )
  }
  if (value.length < 32) {
    return warn(
      name,
      `PORTER_ADMIN_TOKEN is short (${value.length} characters): it guards every secret; ` +
        "use `openssl rand -hex 32`"
    )
  }
  return pass(name, `set (${value.length} characters)`)
}

/**
 * Where the model gateway sends each provider's calls (with the provider's key attached): absolute http(s) URLs, https
 * unless on loopback. And what machines hold: no provider key — but Amp's.
 */
const modelGateway = (env: Readonly<Record<string, unknown>>): Check => {
  const name = "model gateway"
  const upstreams: Array<string> = []
  for (const spec of Providers.all) {
    const value = text(env, spec.upstreamEnv) ?? spec.defaultUpstream
    let url: URL
    try {
      url = new URL(value)
    } catch {
      return fail(name, `${spec.upstreamEnv} is not an absolute URL: write it like ${spec.defaultUpstream}`)
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      return fail(name, `${spec.upstreamEnv} must be http(s), not ${url.protocol}`)
    }
    if (url.protocol === "http:" && !LOOPBACK.test(url.hostname)) {
      return warn(
        name,
        `${spec.upstreamEnv} is plain http (${url.origin}): Porter sends the ${spec.displayName} key there`
      )
    }
    upstreams.push(`${spec.displayName} → ${url.origin}${url.pathname.replace(/\/+$/, "")}`)
  }
  return pass(
    name,
    `${upstreams.join(", ")}; machines get no provider key, only the task's gateway credential — ` +
      "except Amp, whose CLI talks only to Amp's own service: AMP_API_KEY goes to its machine, and its calls are " +
      "neither metered nor budgeted"
  )
}

const encryptionKey = Effect.gen(function*() {
  const name = "encryption key"
  const keys = yield* EncryptionKeys.fromConfig.pipe(Effect.result)
  if (keys._tag === "Success") {
    const old = keys.success.ids.length - 1
    return pass(
      name,
      `key ${keys.success.currentId}: 32 bytes${old > 0 ? `, ${old} retired key(s) for decryption` : ""}`
    )
  }
  const error = keys.failure
  return error._tag === "ConfigError"
    ? fail(
      name,
      "PORTER_ENCRYPTION_KEY is not set: `openssl rand -base64 32 | wrangler secret put PORTER_ENCRYPTION_KEY`" +
        " (keep a copy: stored secrets cannot be read without it)"
    )
    : fail(name, error.message)
})

const taskTokens = Effect.gen(function*() {
  const name = "task tokens"
  const secret = yield* WorkerConfig.taskTokenSecret.pipe(Effect.result)
  if (secret._tag === "Failure") {
    return fail(name, "neither PORTER_TASK_TOKEN_SECRET nor PORTER_ENCRYPTION_KEY is set: callbacks cannot be verified")
  }
  return secret.success.source === "explicit"
    ? pass(name, "PORTER_TASK_TOKEN_SECRET is set")
    : pass(name, "derived from PORTER_ENCRYPTION_KEY (set PORTER_TASK_TOKEN_SECRET before rotating that key)")
})

const d1 = (sql: SqlClient.SqlClient | undefined, inWorker: boolean) =>
  Effect.gen(function*() {
    const name = "D1"
    if (sql === undefined && inWorker) {
      return fail(name, "the `DB` binding is missing: add `d1_databases` (binding \"DB\") to wrangler.jsonc and deploy")
    }
    if (sql === undefined) return skip(name, "no D1 here; run the doctor on the Worker (`GET /admin/doctor`)")
    const rows = yield* sql<{ readonly name: string }>`SELECT name FROM sqlite_master WHERE type = 'table'`.pipe(
      Effect.result
    )
    if (rows._tag === "Failure") {
      return fail(name, `cannot query D1 (${rows.failure.message}); check the \`DB\` binding's database_id`)
    }
    const present = new Set(rows.success.map((row) => row.name))
    const absent = TABLES.filter((table) => !present.has(table))
    if (absent.length > 0) {
      return fail(name, `not migrated (missing ${absent.join(", ")}): \`wrangler d1 migrations apply porter --remote\``)
    }
    const applied = present.has("d1_migrations")
      ? yield* sql<{ readonly name: string }>`SELECT name FROM d1_migrations ORDER BY id`.pipe(
        Effect.orElseSucceed(() => [])
      )
      : []
    return pass(name, `migrated (${applied.length > 0 ? applied.map((row) => row.name).join(", ") : "tables present"})`)
  })

const heartbeat = Effect.gen(function*() {
  const name = "heartbeat"
  const timeout = yield* Config.Int("PORTER_HEARTBEAT_TIMEOUT_MS").pipe(
    Config.withDefault(PorterConfig.defaults.heartbeatTimeoutMs)
  )
  const interval = yield* Config.Int("PORTER_HEARTBEAT_INTERVAL_MS").pipe(
    Config.withDefault(PorterConfig.defaults.heartbeatIntervalMs)
  )
  if (interval * 2 > timeout) {
    return warn(
      name,
      `the runner reports every ${interval} ms but runs time out after ${timeout} ms of silence: ` +
        "keep PORTER_HEARTBEAT_INTERVAL_MS under half of PORTER_HEARTBEAT_TIMEOUT_MS"
    )
  }
  return pass(name, `every ${interval / 1000} s; a run silent for ${timeout / 1000} s is timed out`)
}).pipe(
  Effect.catch(() =>
    Effect.succeed(
      fail("heartbeat", "PORTER_HEARTBEAT_TIMEOUT_MS / PORTER_HEARTBEAT_INTERVAL_MS must be integers (ms)")
    )
  )
)

const configuration = (env: Readonly<Record<string, unknown>>, inWorker: boolean): Check => {
  const problems = WorkerConfig.missing(env).filter((problem) => inWorker || !problem.startsWith("DB "))
  return problems.length === 0
    ? pass("configuration", "every required variable, secret and binding is set")
    : fail("configuration", problems.join("; "))
}

/** A check that crashed or hung is a failed check, never a failed doctor. */
const guarded = <R>(name: string, timeout: Duration.Input, check: Effect.Effect<Check, never, R>) =>
  check.pipe(
    Effect.timeoutOption(timeout),
    Effect.map(
      Option.getOrElse(() => fail(name, `no answer within ${Duration.format(Duration.fromInputUnsafe(timeout))}`))
    ),
    Effect.catchCause((cause) =>
      Effect.succeed(fail(name, `the check itself failed: ${String(Cause.squash(cause)).slice(0, 300)}`))
    )
  )

/** Runs every check against `env` (a Worker's `env`, or an env file's variables). */
export const run = (
  env: Readonly<Record<string, unknown>>,
  options: Options = {}
): Effect.Effect<Report, never, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const offline = options.offline === true
    const timeout = options.timeout ?? "15 seconds"
    const checks = yield* Effect.all([
      Effect.succeed(configuration(env, options.inWorker === true)),
      Effect.succeed(publicUrl(env)),
      Effect.succeed(webhookSecret(env)),
      guarded("GitHub", timeout, github(env, offline)),
      guarded("encryption key", timeout, encryptionKey),
      guarded("task tokens", timeout, taskTokens),
      Effect.succeed(adminToken(env)),
      Effect.succeed(modelGateway(env)),
      guarded("Fly", timeout, fly(env, offline)),
      guarded("D1", timeout, d1(options.sql, options.inWorker === true)),
      guarded("heartbeat", timeout, heartbeat)
    ], { concurrency: "unbounded" })
    return { ok: checks.every((check) => check.status !== "fail"), checks }
  }).pipe(Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromUnknown(env)))

/** One line per check, as the CLI prints them (`Diagnostics.render`: one rule for every host). */
export const render = (report: Report): string => Diagnostics.render(report.checks)

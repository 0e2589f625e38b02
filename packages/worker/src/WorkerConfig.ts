/**
 * The Worker's configuration: which variables, secrets and bindings it needs, the startup check that names every
 * missing one at once, readable messages for a layer build that failed, and the two settings the Worker adds to
 * core's `PorterConfig` (the task-token secret derived from the encryption key, and a few machine knobs).
 *
 * Platform-free (WebCrypto only): the `porter` CLI reads the same list to check a `.dev.vars` file.
 */
import { Ids, PorterConfig, TaskTokens } from "@porter/core"
import { Cause, Config, Effect, Layer, Option, Redacted, Schema } from "effect"

/** Where a setting lives in a deployment. */
export type Kind = "var" | "secret" | "binding"

/** A setting the Worker needs: its name, kind and what it is for. */
export interface Requirement {
  readonly name: string
  readonly kind: Kind
  /** What Porter uses it for, in a few words. */
  readonly why: string
}

/** Required in every deployment (GitHub credentials are checked apart: App id + key, or a token). */
export const required: ReadonlyArray<Requirement> = [
  { name: "DB", kind: "binding", why: "the D1 database with Porter's tasks, secrets and settings" },
  { name: "PORTER_PUBLIC_URL", kind: "var", why: "the Worker's own URL, where machines send their callbacks" },
  { name: "GITHUB_WEBHOOK_SECRET", kind: "secret", why: "to verify GitHub's webhook signatures" },
  { name: "PORTER_ENCRYPTION_KEY", kind: "secret", why: "to encrypt stored secrets (base64 of 32 random bytes)" },
  { name: "FLY_APP_NAME", kind: "var", why: "the Fly app the task machines run in" }
]

/** Recommended: the deployment runs without them, with less (the doctor says what is missing). */
export const recommended: ReadonlyArray<Requirement> = [
  { name: "PORTER_ADMIN_TOKEN", kind: "secret", why: "the admin API and `/admin/doctor` (off without it)" },
  { name: "FLY_API_TOKEN", kind: "secret", why: "the deploy-wide Fly token (else each user sets their own)" }
]

/** How to set a variable of this kind, for messages. */
export const howToSet = (requirement: Pick<Requirement, "name" | "kind">): string => {
  switch (requirement.kind) {
    case "secret":
      return `a secret: \`wrangler secret put ${requirement.name}\``
    case "var":
      return `a variable: \`vars.${requirement.name}\` in wrangler.jsonc`
    case "binding":
      return `a binding: \`d1_databases\` with binding "${requirement.name}" in wrangler.jsonc`
  }
}

const isSet = (value: unknown): boolean =>
  typeof value === "string" ? value.trim().length > 0 : value !== undefined && value !== null

/**
 * Every required setting that is missing or blank, each as one line naming the variable and how to set it.
 * Values are never read into the message.
 */
export const missing = (env: Readonly<Record<string, unknown>>): Array<string> => {
  const problems: Array<string> = []
  for (const requirement of required) {
    const value = env[requirement.name]
    if (requirement.kind === "binding") {
      const bound = typeof value === "object" && value !== null && typeof Reflect.get(value, "prepare") === "function"
      if (!bound) problems.push(`${requirement.name} is not bound (${howToSet(requirement)}): ${requirement.why}`)
    } else if (!isSet(value)) {
      problems.push(`${requirement.name} is not set (${howToSet(requirement)}): ${requirement.why}`)
    }
  }
  const appId = isSet(env["GITHUB_APP_ID"])
  const appKey = isSet(env["GITHUB_APP_PRIVATE_KEY"])
  if (appId && !appKey) {
    problems.push(
      "GITHUB_APP_PRIVATE_KEY is not set (a secret: `wrangler secret put GITHUB_APP_PRIVATE_KEY`): " +
        "GITHUB_APP_ID is set, so Porter signs in as that GitHub App and needs its private key"
    )
  } else if (!appId && appKey) {
    problems.push(
      "GITHUB_APP_ID is not set (a secret: `wrangler secret put GITHUB_APP_ID`): " +
        "GITHUB_APP_PRIVATE_KEY is set, but Porter needs the App's id with it"
    )
  } else if (!appId && !isSet(env["GITHUB_TOKEN"])) {
    problems.push(
      "GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY are not set (secrets: `wrangler secret put GITHUB_APP_ID`, " +
        "`wrangler secret put GITHUB_APP_PRIVATE_KEY`): Porter's GitHub App (or GITHUB_TOKEN, a personal token)"
    )
  }
  return problems
}

/**
 * The Worker could not start: configuration missing or unusable. `problems` name variables, never values.
 *
 * @category errors
 */
export class StartupError extends Schema.TaggedError<StartupError>()("StartupError", {
  problems: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `Porter is not configured: ${this.problems.join("; ")}`
  }
}

const PATH_LINE = /^\s*at ((?:\["[^"]*"\]|\[\d+\])+)\s*$/m

/**
 * Readable lines for a failed layer build (ConfigError, EncryptionKeyError, InvalidPrivateKey, …). With `env`, a
 * variable that is present but of the wrong shape is told apart from a missing one.
 */
export const describeFailure = (
  cause: Cause.Cause<unknown>,
  env: Readonly<Record<string, unknown>> = {}
): Array<string> => {
  const problems: Array<string> = []
  for (const reason of cause.reasons) {
    const error = Cause.isFailReason(reason) ? reason.error : Cause.isDieReason(reason) ? reason.defect : undefined
    if (error === undefined) continue
    problems.push(describeError(error, env))
  }
  return problems.length > 0 ? problems : ["the Worker's services could not be built (interrupted)"]
}

const describeError = (error: unknown, env: Readonly<Record<string, unknown>>): string => {
  if (typeof error !== "object" || error === null) return `unexpected startup failure: ${String(error).slice(0, 200)}`
  const tag = Reflect.get(error, "_tag")
  if (tag === "StartupError" && error instanceof StartupError) return error.problems.join("; ")
  if (tag === "ConfigError") {
    // ConfigError → SchemaError: "Expected …\n  at ["NAME"]…"; or a SourceError with its own message.
    const inner = Reflect.get(error, "cause")
    const text = typeof inner === "object" && inner !== null ? String(Reflect.get(inner, "message") ?? "") : ""
    const path = PATH_LINE.exec(text)?.[1]
    const segments = path === undefined ? [] : [...path.matchAll(/\["([^"]*)"\]|\[(\d+)\]/g)].map((m) => m[1] ?? m[2]!)
    const name = segments[0]
    const expected = (text.split("\n")[0] ?? "").replace(/^Expected /, "expected ").trim() || "invalid"
    if (name === undefined) return `configuration: ${text.slice(0, 300) || "invalid"}`
    const value = env[name]
    const present = typeof value === "string" ? value.trim().length > 0 : value !== undefined && value !== null
    if (segments.length === 1 && expected === "expected string" && !present) return `${name} is not set`
    const where = segments.length > 1 ? ` at ${segments.slice(1).join(".")}` : ""
    return `${name} is not valid (${expected}${where})`
  }
  const message = Reflect.get(error, "message")
  return typeof message === "string" && message.length > 0
    ? message.slice(0, 500)
    : `unexpected startup failure (${typeof tag === "string" ? tag : "unknown"})`
}

const encoder = new TextEncoder()

/** HKDF info: domain separation, so the task-token secret tells nothing about the encryption key. */
export const TASK_TOKEN_INFO = "porter/task-token-secret/v1"

/**
 * The task-token HMAC secret derived from the encryption key (HKDF-SHA256, its own `info`): no extra secret to
 * manage. Rotating the encryption key changes it, so the callback tokens of running tasks stop working; set
 * `PORTER_TASK_TOKEN_SECRET` to keep them apart.
 */
export const deriveTaskTokenSecret = (
  encryptionKey: Redacted.Redacted<string>
): Effect.Effect<Redacted.Redacted<string>> =>
  // Cannot reject: any bytes are valid HKDF key material (an empty key too), and the algorithm, hash, usages and
  // length are constants WebCrypto accepts — a rejection would be a platform defect, not a configuration error.
  Effect.promise(async () => {
    const material = await crypto.subtle.importKey(
      "raw",
      encoder.encode(Redacted.value(encryptionKey).trim()),
      "HKDF",
      false,
      ["deriveBits"]
    )
    const bits = await crypto.subtle.deriveBits(
      { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: encoder.encode(TASK_TOKEN_INFO) },
      material,
      256
    )
    return Redacted.make(Ids.toBase64Url(new Uint8Array(bits)))
  })

/** `PORTER_TASK_TOKEN_SECRET` when set, else derived from `PORTER_ENCRYPTION_KEY`. */
export const taskTokenSecret: Effect.Effect<
  { readonly secret: Redacted.Redacted<string>; readonly source: "explicit" | "derived" },
  Config.ConfigError
> = Effect.gen(function*() {
  const explicit = yield* Config.option(Config.Redacted("PORTER_TASK_TOKEN_SECRET"))
  if (Option.isSome(explicit)) return { secret: explicit.value, source: "explicit" as const }
  const key = yield* Config.Redacted("PORTER_ENCRYPTION_KEY")
  return { secret: yield* deriveTaskTokenSecret(key), source: "derived" as const }
})

/**
 * @category layers
 */
export const taskTokensLayer: Layer.Layer<TaskTokens.TaskTokens, Config.ConfigError> = Layer.effect(
  TaskTokens.TaskTokens,
  Effect.flatMap(taskTokenSecret, ({ secret }) => TaskTokens.make(secret))
)

const MachineEnv = Schema.fromJsonString(Schema.Record(Schema.String, Schema.String))

/** The Worker's additions to core's `PorterConfig.layerConfig`. */
export const extraConfig = Config.all({
  /** The runner's heartbeat interval; keep it well under `PORTER_HEARTBEAT_TIMEOUT_MS`. */
  heartbeatIntervalMs: Config.option(Config.Int("PORTER_HEARTBEAT_INTERVAL_MS")),
  /** Plain environment for every machine, as a JSON object of strings (base URLs of local model servers, …). */
  machineEnv: Config.option(Config.schema(MachineEnv, "PORTER_MACHINE_ENV")),
  /** Set when the web app is on (the App Worker serves `/app`): transcripts are linked to its pages. */
  webApp: Config.option(Config.String("GITHUB_OAUTH_CLIENT_ID"))
})

/**
 * Core's `PorterConfig.layerConfig`, plus `PORTER_HEARTBEAT_INTERVAL_MS` and `PORTER_MACHINE_ENV`; with the web app on
 * (`GITHUB_OAUTH_CLIENT_ID`) and no `PORTER_TRANSCRIPT_URL`, transcripts are linked to `<public URL>/app/tasks/<id>/transcript`.
 *
 * @category layers
 */
export const porterConfigLayer: Layer.Layer<PorterConfig.PorterConfig, Config.ConfigError> = Layer.effect(
  PorterConfig.PorterConfig,
  Effect.gen(function*() {
    const base = yield* PorterConfig.PorterConfig
    const extra = yield* extraConfig
    return PorterConfig.PorterConfig.of({
      ...base,
      ...(Option.isSome(extra.heartbeatIntervalMs) ? { heartbeatIntervalMs: extra.heartbeatIntervalMs.value } : {}),
      ...(Option.isSome(extra.machineEnv) ? { machineEnv: extra.machineEnv.value } : {}),
      ...(base.transcriptBaseUrl === undefined && Option.isSome(extra.webApp)
        ? { transcriptBaseUrl: `${base.publicUrl}/app/tasks` }
        : {})
    })
  })
).pipe(Layer.provide(PorterConfig.layerConfig))

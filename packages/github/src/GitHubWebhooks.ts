/**
 * GitHubWebhooks: core's `WebhookIntake` for GitHub. The `X-Hub-Signature-256` HMAC-SHA256 of the
 * exact body is checked first, in constant time; nothing is decoded from a body that was not
 * verified. Then the payload is decoded (see `WebhookEvents`).
 *
 * The check runs on every delivery, so it is built once per secret. On Node it is `node:crypto`'s
 * synchronous HMAC, kept by hand: `effect/crypto`'s `Mac` costs more there. Per ~7 KB delivery,
 * CPU, Node 24, 7 rounds of 10,000 (test/perf/WebhookVerify.perf.ts, machine load 8-16): hand
 * `createHmac` 10-13 µs; `Mac.layerWebCrypto` 49-71 µs (WebCrypto through the thread pool);
 * `Mac.layerWebCryptoWith` over the same `createHmac` 15-18 µs (the body as bytes, an Effect per
 * delivery). workerd has `node:crypto` too at the Worker's compatibility date (its Node.js APIs,
 * `process.getBuiltinModule`), so the Worker takes the same path; there it costs what WebCrypto does
 * or less (medians 11 against 12 and 14 µs in two runs of 7 rounds of 10,000, test/perf/WebhookVerify.workerd.perf.ts,
 * 2026-12-08).
 * Where there is no `node:crypto` it is `Mac.layerWebCrypto` with the key built once, whose `verify`
 * compares in constant time (in workerd: what the hand `crypto.subtle` code cost). Same result as
 * `@octokit/webhooks-methods`' `verify`, which imports the key on every call.
 *
 * | case                                                        | result                | HTTP |
 * |-------------------------------------------------------------|-----------------------|------|
 * | signature header missing, garbled, truncated or wrong       | `WebhookUnauthorized` | 401  |
 * | `X-GitHub-Event` / `X-GitHub-Delivery` missing              | `WebhookMalformed`    | 400  |
 * | body empty, not JSON, or a used event that does not decode  | `WebhookMalformed`    | 400  |
 * | `ping`, `installation*`, other events and actions, bots     | `Ignored`             | 200  |
 *
 * Fail closed: there is no way to turn verification off, and `layerConfig` refuses to build
 * without a non-empty `GITHUB_WEBHOOK_SECRET`. The body size limit is the host's (core's
 * `maxWebhookBytes`, 413). Bodies are verified as UTF-8 text: GitHub sends JSON in UTF-8, and
 * core's HTTP app hands the body over decoded. Form-encoded deliveries (`payload=…`) are accepted too.
 *
 * @since 0.1.0
 */
import { Errors, type Event, TaskTokens, WebhookIntake } from "@porter/core"
import { Config, ConfigProvider, Effect, Exit, Layer, Redacted, Result, Schema } from "effect"
import { Mac, SecureRandom } from "effect/crypto"
import { Hex } from "effect/encoding"
import { decodeIncomingEvent } from "./WebhookEvents.ts"

/**
 * What the intake needs: the webhook secret.
 *
 * @category models
 */
export interface WebhookOptions {
  /** The webhook secret set on the GitHub App (or repository webhook). Must not be empty. */
  readonly secret: Redacted.Redacted<string>
}

const SIGNATURE = /^sha256=[0-9a-f]{64}$/

const unauthorized = (message: string) => new Errors.WebhookUnauthorized({ message })
const malformed = (message: string) => new Errors.WebhookMalformed({ message })

/**
 * `(body, hex digest) → valid?`, a boolean (node:crypto) or an Effect (WebCrypto). Never throws nor fails: a digest
 * that is not hex or a refused check is `false` (fail closed).
 */
type Verifier = (body: string, hex: string) => boolean | Effect.Effect<boolean>

interface NodeCrypto {
  readonly createHmac: (algorithm: string, key: string) => {
    readonly update: (data: string, encoding: "utf8") => { readonly digest: (encoding: "hex") => string }
  }
}

/** `node:crypto`, where the platform is Node (`process.getBuiltinModule`), else undefined. */
const nodeCrypto = (): NodeCrypto | undefined => {
  const process = (globalThis as {
    readonly process?: {
      readonly versions?: { readonly node?: unknown }
      readonly getBuiltinModule?: (id: string) => unknown
    }
  }).process
  if (typeof process?.versions?.node !== "string" || typeof process.getBuiltinModule !== "function") return undefined
  try {
    const module = process.getBuiltinModule("node:crypto") as Partial<NodeCrypto> | undefined
    return typeof module?.createHmac === "function" ? module as NodeCrypto : undefined
  } catch {
    return undefined
  }
}

const encoder = new TextEncoder()

const MacLive = Mac.layerWebCrypto.pipe(Layer.provide(SecureRandom.layerWebCrypto))

/**
 * The HMAC-SHA256 check for one secret, its key prepared once. `platform` forces one implementation (tests); by
 * default `node:crypto` where there is one, else `effect/crypto`'s `Mac` on WebCrypto.
 *
 * @internal
 */
export const makeVerifier = Effect.fnUntraced(function*(secret: string, platform?: "node" | "webcrypto") {
  const node = platform === "webcrypto" ? undefined : nodeCrypto()
  if (platform === "node" && node === undefined) {
    return yield* Effect.die(new Error("node:crypto is not available here"))
  }
  if (node !== undefined) {
    return ((body, hex) => {
      try {
        return TaskTokens.timingSafeEqual(node.createHmac("sha256", secret).update(body, "utf8").digest("hex"), hex)
      } catch {
        return false
      }
    }) satisfies Verifier as Verifier
  }
  const mac = yield* Effect.provide(Effect.service(Mac.Mac), MacLive)
  const key = yield* Effect.orDie(Mac.key(Mac.hmacSha256, encoder.encode(secret)))
  return ((body, hex) => {
    const tag = Hex.decode(hex)
    if (Result.isFailure(tag)) return false
    return Effect.orElseSucceed(mac.verify(key, tag.success, encoder.encode(body)), () => false)
  }) satisfies Verifier as Verifier
})

const bodyJson = (raw: WebhookIntake.RawWebhook): unknown => {
  const contentType = raw.headers["content-type"] ?? ""
  const text = contentType.startsWith("application/x-www-form-urlencoded")
    ? new URLSearchParams(raw.body).get("payload") ?? ""
    : raw.body
  return JSON.parse(text)
}

/**
 * The intake for one secret, its HMAC check built once; an empty secret fails.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (
  options: WebhookOptions
): Effect.Effect<WebhookIntake.WebhookIntake["Service"], Config.ConfigError> =>
  Effect.gen(function*() {
    const secret = Redacted.value(options.secret)
    if (secret.trim().length === 0) {
      return yield* Effect.fail(
        new Config.ConfigError(
          new ConfigProvider.SourceError({ message: "the GitHub webhook secret must not be empty" })
        )
      )
    }

    const verify = yield* makeVerifier(secret)
    type Parsed = Effect.Effect<
      Event.IncomingEvent | WebhookIntake.Ignored,
      Errors.WebhookUnauthorized | Errors.WebhookMalformed
    >
    const mismatch: Parsed = Effect.fail(unauthorized("signature does not match"))

    // After the signature: headers, JSON, then the event.
    const decode = (raw: WebhookIntake.RawWebhook): Parsed => {
      const event = raw.headers["x-github-event"]
      const delivery = raw.headers["x-github-delivery"]
      if (!event) return Effect.fail(malformed("missing X-GitHub-Event header"))
      if (!delivery) return Effect.fail(malformed("missing X-GitHub-Delivery header"))
      let payload: unknown
      try {
        payload = bodyJson(raw)
      } catch {
        return Effect.fail(malformed("body is not JSON"))
      }
      const decoded = decodeIncomingEvent(event, delivery, payload)
      return Result.isSuccess(decoded) ? Exit.succeed(decoded.success) : Exit.fail(malformed(decoded.failure.message))
    }

    // Untraced: it runs on every delivery, and a span per call costs more than the checks themselves.
    const parse = (raw: WebhookIntake.RawWebhook): Parsed => {
      const signature = raw.headers["x-hub-signature-256"]
      if (signature === undefined || signature.length === 0) {
        return Effect.fail(unauthorized("missing X-Hub-Signature-256 header"))
      }
      const trimmed = signature.trim()
      if (!SIGNATURE.test(trimmed)) return Effect.fail(unauthorized("malformed X-Hub-Signature-256 header"))
      if (raw.body.length === 0) return Effect.fail(malformed("empty body"))
      const valid = verify(raw.body, trimmed.slice("sha256=".length))
      if (valid === true) return decode(raw)
      if (valid === false) return mismatch
      return Effect.flatMap(valid, (ok) => (ok ? decode(raw) : mismatch))
    }

    return WebhookIntake.WebhookIntake.of({ parse })
  })

/**
 * `WebhookIntake` from `make`.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: WebhookOptions): Layer.Layer<WebhookIntake.WebhookIntake, Config.ConfigError> =>
  Layer.effect(WebhookIntake.WebhookIntake, make(options))

/**
 * The secret, from `GITHUB_WEBHOOK_SECRET`: missing, empty or blank fails the layer (the host
 * does not start), never "skip verification".
 *
 * @category config
 * @since 0.1.0
 */
export const secretConfig: Config.Config<Redacted.Redacted<string>> = Config.schema(
  Schema.RedactedFromValue(Schema.String.pipe(Schema.check(Schema.isPattern(/\S/)))),
  "GITHUB_WEBHOOK_SECRET"
)

/**
 * `WebhookIntake` with the secret from `GITHUB_WEBHOOK_SECRET`.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerConfig: Layer.Layer<WebhookIntake.WebhookIntake, Config.ConfigError> = Layer.effect(
  WebhookIntake.WebhookIntake,
  Effect.flatMap(secretConfig, (secret) => make({ secret }))
)

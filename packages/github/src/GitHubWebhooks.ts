/**
 * GitHubWebhooks: core's `WebhookIntake` for GitHub. The `X-Hub-Signature-256` HMAC-SHA256 of the
 * exact body is checked first, in constant time, with `@octokit/webhooks-methods`; nothing is
 * decoded from a body that was not verified. Then the payload is decoded (see `WebhookEvents`).
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
import { verify } from "@octokit/webhooks-methods"
import { Config, ConfigProvider, Effect, Layer, Redacted, Schema } from "effect"
import { Errors, WebhookIntake } from "@porter/core"
import { toIncomingEvent } from "./WebhookEvents.ts"

/** @category models */
export interface WebhookOptions {
  /** The webhook secret set on the GitHub App (or repository webhook). Must not be empty. */
  readonly secret: Redacted.Redacted<string>
}

const SIGNATURE = /^sha256=[0-9a-f]{64}$/

const unauthorized = (message: string) => new Errors.WebhookUnauthorized({ message })
const malformed = (message: string) => new Errors.WebhookMalformed({ message })

const bodyJson = (raw: WebhookIntake.RawWebhook): unknown => {
  const contentType = raw.headers["content-type"] ?? ""
  const text = contentType.startsWith("application/x-www-form-urlencoded")
    ? new URLSearchParams(raw.body).get("payload") ?? ""
    : raw.body
  return JSON.parse(text)
}

/**
 * @category constructors
 * @since 0.1.0
 */
export const make = (
  options: WebhookOptions
): Effect.Effect<WebhookIntake.WebhookIntake["Service"], Config.ConfigError> =>
  Effect.suspend(() => {
    const secret = Redacted.value(options.secret)
    if (secret.trim().length === 0) {
      return Effect.fail(
        new Config.ConfigError(
          new ConfigProvider.SourceError({ message: "the GitHub webhook secret must not be empty" })
        )
      )
    }

    const parse = Effect.fn("GitHubWebhooks.parse")(function*(raw: WebhookIntake.RawWebhook) {
      const signature = raw.headers["x-hub-signature-256"]
      if (signature === undefined || signature.length === 0) {
        return yield* unauthorized("missing X-Hub-Signature-256 header")
      }
      if (!SIGNATURE.test(signature.trim())) return yield* unauthorized("malformed X-Hub-Signature-256 header")
      if (raw.body.length === 0) return yield* malformed("empty body")
      const valid = yield* Effect.tryPromise(() => verify(secret, raw.body, signature.trim())).pipe(
        Effect.orElseSucceed(() => false)
      )
      if (!valid) return yield* unauthorized("signature does not match")

      const event = raw.headers["x-github-event"]
      const delivery = raw.headers["x-github-delivery"]
      if (!event) return yield* malformed("missing X-GitHub-Event header")
      if (!delivery) return yield* malformed("missing X-GitHub-Delivery header")
      yield* Effect.annotateCurrentSpan({ event, delivery })
      const payload = yield* Effect.try({
        try: () => bodyJson(raw),
        catch: () => malformed("body is not JSON")
      })
      return yield* toIncomingEvent(event, delivery, payload).pipe(
        Effect.mapError((error) => malformed(error.message))
      )
    })

    return Effect.succeed(WebhookIntake.WebhookIntake.of({ parse }))
  })

/**
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
 * @category layers
 * @since 0.1.0
 */
export const layerConfig: Layer.Layer<WebhookIntake.WebhookIntake, Config.ConfigError> = Layer.effect(
  WebhookIntake.WebhookIntake,
  Effect.flatMap(secretConfig, (secret) => make({ secret }))
)

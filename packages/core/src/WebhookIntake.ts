/**
 * WebhookIntake: raw webhook request → verified, normalized event. `@porter/github` implements it
 * (`GitHubWebhooks`: HMAC-SHA256 of the body with the webhook secret, then GitHub's event schemas).
 */
import { Context, Effect, Layer, Schema } from "effect"
import { type WebhookMalformed, WebhookUnauthorized } from "./Errors.ts"
import type { IncomingEvent } from "./Event.ts"

/** A webhook request as received: its headers (lower-cased) and exact body. */
export interface RawWebhook {
  /** Lower-cased header names. */
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly body: string
}

/** A verified delivery Porter does not act on (other events, other actions, bots). */
export class Ignored extends Schema.TaggedClass<Ignored>()("Ignored", {
  reason: Schema.String
}) {}

/** Raw webhook request → verified, normalized event. */
export class WebhookIntake extends Context.Service<WebhookIntake, {
  /** Verifies the signature first; nothing is decoded from an unverified body. */
  readonly parse: (raw: RawWebhook) => Effect.Effect<IncomingEvent | Ignored, WebhookUnauthorized | WebhookMalformed>
}>()("@porter/core/WebhookIntake") {}

/** Refuses every delivery (hosts and tests that take no webhooks). */
export const layerRefuseAll: Layer.Layer<WebhookIntake> = Layer.succeed(
  WebhookIntake,
  WebhookIntake.of({
    parse: () => Effect.fail(new WebhookUnauthorized({ message: "this host takes no webhook deliveries" }))
  })
)

/**
 * Intake: a webhook delivery from its bytes to its answer. The delivery is verified and decoded (`WebhookIntake`,
 * the GitHub adapter), filtered (bots, Porter's own comments, comments not addressed to Porter, closed issues
 * without active tasks, failed checks on branches Porter did not make), and claimed (the delivery id, once); the answer goes back at once and the rest runs through
 * `Background` (`Commands.handle`). A claimed delivery whose handling never completes is retried by the watchdog.
 *
 *   202 accepted · 200 ignored (not for Porter, duplicate) · 401 signature · 400 malformed · 413 too large · 503 storage
 *
 * Everything on the answer's path is untraced and free of generators: it runs before every webhook's answer, and a
 * span or a generator costs more than the work (see bench/RESULTS.md).
 */
import { Clock, Context, Effect, Layer } from "effect"
import type { HttpServerError } from "effect/http"
import { Background } from "./Background.ts"
import { CommandParser } from "./CommandParser.ts"
import { Commands } from "./Commands.ts"
import type { StoreError, WebhookTooLarge } from "./Errors.ts"
import type { IncomingEvent } from "./Event.ts"
import { BRANCH_PREFIX } from "./MachineRequest.ts"
import * as Messages from "./Messages.ts"
import { PorterConfig } from "./PorterConfig.ts"
import { Settings } from "./Settings.ts"
import { TaskStore } from "./TaskStore.ts"
import { WebhookIntake } from "./WebhookIntake.ts"

/** Whether a delivery was taken: `Accepted` means its handling has to run (now or in the background). */
export type IntakeResult =
  | { readonly _tag: "Accepted"; readonly receivedAt: number }
  | { readonly _tag: "Ignored"; readonly reason: string }

/** What the webhook endpoint answers: a status and a JSON body. */
export interface WebhookAnswer {
  readonly status: number
  readonly body: unknown
}

/**
 * Reads a webhook's body, failing with `WebhookTooLarge` past `limit` bytes; a body that cannot be read (any other
 * failure or defect) is answered 400.
 */
export type WebhookBody = (limit: number) => Effect.Effect<string, WebhookTooLarge | HttpServerError.HttpServerError>

/** A webhook delivery from its bytes to its answer. */
export class Intake extends Context.Service<Intake, {
  /** Filters and claims a decoded event (the claim is the one write before the answer). */
  readonly accept: (event: IncomingEvent) => Effect.Effect<IntakeResult, StoreError>
  /**
   * `POST /webhooks/github` without an HTTP framework: the headers (lower-cased names) and a way to read the body in,
   * the answer out. Never fails, and cannot be interrupted once started: a client that hangs up must not cut a claim
   * from its handling.
   */
  readonly answer: (
    headers: Readonly<Record<string, string | undefined>>,
    body: WebhookBody
  ) => Effect.Effect<WebhookAnswer>
}>()("@porter/core/Intake") {}

const ignored = (reason: string): WebhookAnswer => ({ status: 200, body: { ignored: reason } })

/** The `Intake` service, built from its dependencies in the context. */
export const make = Effect.gen(function*() {
  const store = yield* TaskStore
  const settings = yield* Settings
  const parser = yield* CommandParser
  const webhooks = yield* WebhookIntake
  const background = yield* Background
  const commands = yield* Commands
  const { maxWebhookBytes } = yield* PorterConfig

  const isForPorter = (event: IncomingEvent): Effect.Effect<string | undefined, StoreError> => {
    if (event._tag === "IssueClosed") {
      return Effect.map(
        store.countActive({ repo: event.repo.fullName, issueNumber: event.issueNumber }),
        (active) => (active > 0 ? undefined : "no active task on this issue")
      )
    }
    if (event._tag === "ChecksFailed") {
      // No read before the answer: the branch's name says whether Porter made it (`CiFeedback` finds its task).
      return Effect.succeed(event.headBranch.startsWith(BRANCH_PREFIX) ? undefined : "not a Porter branch")
    }
    if (event.author.isBot) return Effect.succeed("comment by a bot")
    if (event.body.includes(Messages.MARKER_PREFIX)) return Effect.succeed("comment by Porter")
    return Effect.map(
      settings.forRepo(event.repo.fullName, event.installationId),
      (
        repoSettings
      ) => (parser.parse(event.body, repoSettings)._tag === "NotForPorter" ? "not addressed to Porter" : undefined)
    )
  }

  // The stored payload is the event's JSON: the event classes hold plain fields only, so this is exactly what
  // encoding with `IncomingEventFromJson` gives (and what the watchdog decodes when it retries), without its cost.
  const claim = (event: IncomingEvent): Effect.Effect<IntakeResult, StoreError> =>
    Effect.flatMap(Clock.currentTimeMillis, (receivedAt) =>
      Effect.map(
        store.claimDelivery({ id: event.deliveryId, receivedAt, payload: JSON.stringify(event) }),
        (first): IntakeResult =>
          first ? { _tag: "Accepted", receivedAt } : { _tag: "Ignored", reason: "duplicate delivery" }
      ))

  const accept = (event: IncomingEvent): Effect.Effect<IntakeResult, StoreError> =>
    Effect.flatMap(
      isForPorter(event),
      (reason) => reason !== undefined ? Effect.succeed<IntakeResult>({ _tag: "Ignored", reason }) : claim(event)
    )

  // `Commands.handle` is called only once the background work starts: it is a traced function, and calling one
  // captures a stack trace (~0.1 ms in workerd).
  const taken = (event: IncomingEvent) =>
    Effect.flatMap(accept(event), (result) =>
      result._tag === "Ignored"
        ? Effect.succeed(ignored(result.reason))
        : Effect.as(
          background.run(Effect.suspend(() => commands.handle(event, result.receivedAt))),
          { status: 202, body: { accepted: true, deliveryId: event.deliveryId } } satisfies WebhookAnswer
        ))

  const answer: Intake["Service"]["answer"] = (headers, body) =>
    Effect.flatMap(body(maxWebhookBytes), (text) =>
      Effect.flatMap(
        webhooks.parse({ headers, body: text }),
        (parsed) => (parsed._tag === "Ignored" ? Effect.succeed(ignored(parsed.reason)) : taken(parsed))
      )).pipe(
        Effect.catchTags({
          WebhookTooLarge: (error) => Effect.succeed<WebhookAnswer>({ status: 413, body: { error: error.message } }),
          WebhookUnauthorized: (error) =>
            Effect.succeed<WebhookAnswer>({ status: 401, body: { error: error.message } }),
          WebhookMalformed: (error) => Effect.succeed<WebhookAnswer>({ status: 400, body: { error: error.message } }),
          StoreError: (error) =>
            Effect.as(
              Effect.logError("webhook intake: storage failed", { error: error.message }),
              { status: 503, body: { error: "storage unavailable, redeliver later" } } satisfies WebhookAnswer
            )
        }),
        Effect.catchCause((cause) =>
          Effect.as(
            Effect.logError("webhook intake failed", { cause }),
            { status: 400, body: { error: "unreadable request" } } satisfies WebhookAnswer
          )
        ),
        Effect.uninterruptible
      )

  return Intake.of({ accept, answer })
})

/** `Intake` as a layer (`make`). */
export const layer: Layer.Layer<
  Intake,
  never,
  TaskStore | Settings | CommandParser | WebhookIntake | Background | Commands | PorterConfig
> = Layer.effect(Intake, make)

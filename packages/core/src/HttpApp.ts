/**
 * The HTTP app every host serves (the Worker, a Node host, tests):
 *
 *   POST /webhooks/github            202 accepted · 200 ignored · 401 signature · 400 malformed · 413 too large
 *   POST /callbacks/tasks/:taskId    200 · 401 token · 400 body · 404 task · 409 task already ended
 *   GET  /tasks/:taskId              the task's status (its token, or the admin token)
 *   GET  /healthz
 *
 * A webhook is answered once verified and claimed; the rest runs through `Background`. Webhook and
 * callback handlers are uninterruptible: a client that hangs up (a runner whose machine is being
 * destroyed by this very callback) must not cut a state change and its report in half.
 */
import { Effect, Option, Redacted, Stream } from "effect"
import { type HttpServerError, HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import { Background } from "./Background.ts"
import { WebhookTooLarge } from "./Errors.ts"
import type { IncomingEvent } from "./Event.ts"
import { Porter } from "./Porter.ts"
import { PorterConfig } from "./PorterConfig.ts"
import { timingSafeEqual } from "./TaskTokens.ts"
import { WebhookIntake } from "./WebhookIntake.ts"

const json = (status: number, body: unknown) => HttpServerResponse.jsonUnsafe(body, { status })

const decoder = new TextDecoder()

/**
 * Reads at most `limit` bytes of the body. With a `Content-Length` within the limit the body is read
 * in one go (the hot path of every webhook); without one it streams and stops as soon as the limit
 * is passed, so a large chunked body is never buffered whole.
 */
export const readBody = (request: HttpServerRequest.HttpServerRequest, limit: number) => {
  const declared = Number(request.headers["content-length"] ?? "NaN")
  if (Number.isFinite(declared)) {
    if (declared > limit) return Effect.fail(new WebhookTooLarge({ limitBytes: limit }))
    return Effect.flatMap(request.arrayBuffer, (buffer) =>
      buffer.byteLength > limit
        ? Effect.fail(new WebhookTooLarge({ limitBytes: limit }))
        : Effect.succeed(decoder.decode(buffer)))
  }
  return Effect.suspend(() => {
    const chunks: Array<Uint8Array> = []
    let size = 0
    return Stream.runForEach(request.stream, (chunk) => {
      size += chunk.byteLength
      if (size > limit) return Effect.fail(new WebhookTooLarge({ limitBytes: limit }))
      chunks.push(chunk)
      return Effect.void
    }).pipe(Effect.map(() => {
      const bytes = new Uint8Array(size)
      let offset = 0
      for (const chunk of chunks) {
        bytes.set(chunk, offset)
        offset += chunk.byteLength
      }
      return decoder.decode(bytes)
    }))
  })
}

export const bearerOf = (request: HttpServerRequest.HttpServerRequest): string | undefined => {
  const header = request.headers["authorization"]
  if (header === undefined) return undefined
  const match = /^Bearer\s+(.+)$/i.exec(header.trim())
  return match ? match[1] : undefined
}

export const isAdminRequest = (
  request: HttpServerRequest.HttpServerRequest,
  adminToken: Redacted.Redacted<string> | undefined
): boolean => {
  const presented = bearerOf(request)
  return adminToken !== undefined && presented !== undefined && timingSafeEqual(Redacted.value(adminToken), presented)
}

/** What the webhook endpoint answers: a status and a JSON body. */
export interface WebhookAnswer {
  readonly status: number
  readonly body: unknown
}

/**
 * Reads a webhook's body, failing with `WebhookTooLarge` past `limit` bytes (see `readBody`); a body that cannot
 * be read (any other failure or defect) is answered 400.
 */
export type WebhookBody = (limit: number) => Effect.Effect<string, WebhookTooLarge | HttpServerError.HttpServerError>

/**
 * `POST /webhooks/github` without an HTTP framework: the request's headers (lower-cased names) and a way to read
 * its body in, the answer out. Never fails, and cannot be interrupted once started (see the module comment). The
 * route below is this; a host may also call it directly for that one path, skipping the router, the request and
 * response objects and their middleware (the Worker and the Node example do), with the same answers.
 */
export const webhookHandler: Effect.Effect<
  (headers: Readonly<Record<string, string | undefined>>, body: WebhookBody) => Effect.Effect<WebhookAnswer>,
  never,
  Porter | WebhookIntake | Background | PorterConfig
> = Effect.gen(function*() {
  const porter = yield* Porter
  const intake = yield* WebhookIntake
  const background = yield* Background
  const config = yield* PorterConfig

  const ignored = (reason: string): WebhookAnswer => ({ status: 200, body: { ignored: reason } })
  // Untraced and without generators: this is every webhook's answer. `process` is only called once the background
  // work starts: it is a traced function, and calling one captures a stack trace (~0.1 ms in workerd).
  const accept = (event: IncomingEvent) =>
    Effect.flatMap(porter.intake(event), (result) =>
      result._tag === "Ignored"
        ? Effect.succeed(ignored(result.reason))
        : Effect.as(
          background.run(Effect.suspend(() => porter.process(event, result.receivedAt))),
          { status: 202, body: { accepted: true, deliveryId: event.deliveryId } } satisfies WebhookAnswer
        ))

  return (headers, body) =>
    Effect.flatMap(body(config.maxWebhookBytes), (text) =>
      Effect.flatMap(
        intake.parse({ headers, body: text }),
        (parsed) => (parsed._tag === "Ignored" ? Effect.succeed(ignored(parsed.reason)) : accept(parsed))
      )).pipe(
        Effect.catchTags({
          WebhookTooLarge: (error) => Effect.succeed<WebhookAnswer>({ status: 413, body: { error: error.message } }),
          WebhookUnauthorized: (error) => Effect.succeed<WebhookAnswer>({ status: 401, body: { error: error.message } }),
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
})

export const routes = HttpRouter.use(Effect.fn("PorterHttp.routes")(function*(router) {
  const porter = yield* Porter
  const webhook = yield* webhookHandler
  const config = yield* PorterConfig

  yield* router.add("GET", "/healthz", json(200, { ok: true }))

  yield* router.add(
    "POST",
    "/webhooks/github",
    (request) =>
      Effect.map(
        webhook(request.headers, (limit) => readBody(request, limit)),
        (answer) => json(answer.status, answer.body)
      ),
    { uninterruptible: true }
  )

  yield* router.add("POST", "/callbacks/tasks/:taskId", (request) =>
    Effect.gen(function*() {
      const { taskId } = yield* HttpRouter.params
      const body = yield* readBody(request, 256 * 1024)
      const answer = yield* porter.callback(taskId ?? "", bearerOf(request), body)
      return json(answer.accepted ? 200 : 409, answer)
    }).pipe(
      Effect.catchTags({
        WebhookTooLarge: (error) => Effect.succeed(json(413, { error: error.message })),
        CallbackUnauthorized: (error) => Effect.succeed(json(401, { error: error.message })),
        CallbackMalformed: (error) => Effect.succeed(json(400, { error: error.message })),
        TaskNotFound: (error) => Effect.succeed(json(404, { error: error.message })),
        StoreError: (error) =>
          Effect.as(
            Effect.logError("callback: storage failed", { error: error.message }),
            json(503, { error: "storage unavailable, retry" })
          )
      }),
      Effect.catchCause((cause) =>
        Effect.as(Effect.logError("callback failed", { cause }), json(400, { error: "unreadable request" }))
      )
    ), { uninterruptible: true })

  yield* router.add("GET", "/tasks/:taskId", (request) =>
    Effect.gen(function*() {
      const { taskId } = yield* HttpRouter.params
      const view = yield* porter.view(taskId ?? "", bearerOf(request), isAdminRequest(request, config.adminToken))
      return json(200, view)
    }).pipe(
      Effect.catchTags({
        CallbackUnauthorized: (error) => Effect.succeed(json(401, { error: error.message })),
        TaskNotFound: (error) => Effect.succeed(json(404, { error: error.message })),
        StoreError: () => Effect.succeed(json(503, { error: "storage unavailable" }))
      })
    ))
}))

/** Is this request's bearer the admin token? (For hosts adding their own admin routes.) */
export const adminTokenOf = (config: { readonly adminToken?: Redacted.Redacted<string> }) =>
  Option.fromNullishOr(config.adminToken)

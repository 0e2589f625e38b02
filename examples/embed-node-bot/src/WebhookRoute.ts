/**
 * `POST /webhooks/github` straight from `node:http`: the bot's hot path answered by core's `Intake.answer`
 * (the same program as the route, so the same answers: 202, 200 ignored, 401, 400, 413, 503) without the Effect
 * HTTP server's request and response objects, router and middleware, which cost more CPU per webhook than the
 * intake itself (verify, decode, parse, claim). Every other request — and a webhook without `Content-Length` or
 * over the size limit — goes to the Effect server as before.
 *
 * `NodeHttpServer` adds its own `request` listener to the server it is given and offers no hook in front of it, so
 * the server made here (`makeServer`) offers each request to the route first: Node delivers requests through
 * `server.emit("request", …)`, and this server's `emit` lets the route take the ones it handles. Until the route is
 * installed (`layer`, once Porter is built) and after its scope closes, every request goes to the Effect server.
 *
 * Cannot: stream a body (the fast path needs `Content-Length`; chunked deliveries take the router, which streams).
 */
import { Errors, Intake, PorterConfig } from "@porter/core"
import { Effect, Layer } from "effect"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"

/** Where the route is installed; `handle` answers `true` when it took the request. */
export interface Slot {
  handle: ((request: IncomingMessage, response: ServerResponse) => boolean) | undefined
}

export const makeSlot = (): Slot => ({ handle: undefined })

/**
 * A `node:http` server (for `NodeHttpServer.layer`) that offers each request to `slots` (in turn) before other
 * listeners.
 */
export const makeServer = (...slots: ReadonlyArray<Slot>) => (): Server => {
  const server = createServer()
  const emit = server.emit
  server.emit = function(this: Server, event: string | symbol, ...args: Array<unknown>): boolean {
    if (event === "request") {
      for (const slot of slots) {
        if (slot.handle?.(args[0] as IncomingMessage, args[1] as ServerResponse) === true) return true
      }
    }
    return Reflect.apply(emit, this, [event, ...args]) as boolean
  } as Server["emit"]
  return server
}

const decoder = new TextDecoder()

const send = (response: ServerResponse, status: number, body: unknown) => {
  if (response.headersSent || response.destroyed) return
  const text = JSON.stringify(body)
  response.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) })
  response.end(text)
}

/** Installs the route in `slot` for the layer's lifetime. `logRequests`: one log line per answer, like the router's. */
export const layer = (
  slot: Slot,
  options: { readonly logRequests: boolean }
): Layer.Layer<never, never, Intake.Intake | PorterConfig.PorterConfig> =>
  Layer.effectDiscard(Effect.gen(function*() {
    const handle = (yield* Intake.Intake).answer
    const limit = (yield* PorterConfig.PorterConfig).maxWebhookBytes
    const run = Effect.runPromiseWith(yield* Effect.context<never>())

    const answer = (request: IncomingMessage, response: ServerResponse, chunks: ReadonlyArray<Buffer>) => {
      const bytes = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)
      const answered = handle(
        request.headers as Readonly<Record<string, string | undefined>>,
        (max) =>
          bytes.byteLength > max
            ? Effect.fail(new Errors.WebhookTooLarge({ limitBytes: max }))
            : Effect.succeed(decoder.decode(bytes))
      )
      const logged = options.logRequests
        ? Effect.tap(answered, (a) =>
          Effect.log("Sent HTTP response").pipe(
            Effect.annotateLogs({ "http.method": "POST", "http.url": "/webhooks/github", "http.status": a.status })
          ))
        : answered
      run(logged).then(
        (a) => send(response, a.status, a.body),
        () => send(response, 500, { error: "internal error" })
      )
    }

    slot.handle = (request, response) => {
      if (request.method !== "POST" || request.url !== "/webhooks/github") return false
      const declared = Number(request.headers["content-length"] ?? "NaN")
      if (!Number.isFinite(declared) || declared > limit) return false
      const chunks: Array<Buffer> = []
      request.on("data", (chunk: Buffer) => void chunks.push(chunk))
      request.on("end", () => answer(request, response, chunks))
      request.on("error", () => send(response, 400, { error: "unreadable request" }))
      return true
    }
    yield* Effect.addFinalizer(() => Effect.sync(() => void (slot.handle = undefined)))
  }))

/**
 * The model gateway (`/gateway/…`) straight from `node:http`, like `WebhookRoute`: core admits the call
 * (`ModelGateway.admit`: the credential, the task, the budgets, the key, the upstream request, refusals in the
 * provider's format; `admitNow` first, which answers without running an effect while the task's grant is kept, as for
 * a busy agent's calls), `node:http` sends it upstream and the answer is piped back to the client, the meter reading each
 * chunk as it passes (a `data` listener beside the pipe: the pipe's backpressure stands, nothing is buffered). Without
 * Effect's HTTP server, router, `HttpClient` and Web streams, which cost more per model call than the gateway itself.
 *
 * The client going away destroys the upstream request (the provider stops); the meter counts what came. Every other
 * request goes to the Effect server, and so does every request until the route is installed (`layer`).
 *
 * A body Porter leaves as it is (`ModelGateway.readsBody`) with a declared length within `gateway.maxRequestBytes`
 * is piped upstream once the call is admitted, never held whole; another (a Chat Completions request, a chunked
 * body) is read from the moment the request arrives, within the limit.
 */
import { GatewayAccess, GatewayApp, ModelGateway, PorterConfig } from "@porter/core"
import { Effect, Layer, Stream } from "effect"
import { type IncomingHttpHeaders, type IncomingMessage, request as httpRequest, type ServerResponse } from "node:http"
import { request as httpsRequest } from "node:https"
import { Readable } from "node:stream"
import type { Slot } from "./WebhookRoute.ts"

const JSON_HEADERS = { "content-type": "application/json" }

/** Node's headers as the plain record core reads (repeated ones joined). */
const recordOf = (headers: IncomingHttpHeaders): Record<string, string | undefined> => {
  const out: Record<string, string | undefined> = {}
  for (const name in headers) {
    const value = headers[name]
    out[name] = Array.isArray(value) ? value.join(", ") : value
  }
  return out
}

const concat = (chunks: ReadonlyArray<Buffer>, size: number): Uint8Array =>
  chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)

const write = (response: ServerResponse, answer: ModelGateway.GatewayAnswer) => {
  if (response.headersSent || response.destroyed) return
  if (answer.bytes !== undefined) {
    response.writeHead(answer.status, { ...answer.headers, "content-length": answer.bytes.byteLength })
    response.end(answer.bytes)
    return
  }
  response.writeHead(answer.status, answer.headers)
  Readable.fromWeb(Stream.toReadableStream(answer.body) as never).pipe(response)
}

const refused = (refusal: "too_large" | "bad_request", message: string) =>
  new GatewayAccess.GatewayRefused({ refusal, message })

/**
 * Reads the request's body from now on, at most `limit` bytes: started as the request arrives, so the body is in by
 * the time core asks for it (after the credential), rather than read only then (a turn of the event loop later).
 * Over the limit, the rest is read and dropped (the connection can answer).
 */
const readBody = (request: IncomingMessage, limit: number): Promise<Uint8Array | "too_large" | "unreadable"> =>
  new Promise((resolve) => {
    const declared = Number(request.headers["content-length"] ?? "NaN")
    if (Number.isFinite(declared) && declared > limit) {
      request.resume()
      resolve("too_large")
      return
    }
    const chunks: Array<Buffer> = []
    let size = 0
    request.on("data", (chunk: Buffer) => {
      size += chunk.byteLength
      if (size > limit) return resolve("too_large")
      chunks.push(chunk)
    })
    request.on("end", () => resolve(size > limit ? "too_large" : concat(chunks, size)))
    request.on("error", () => resolve("unreadable"))
  })

/** The body as core asks for it (`limit`: the same as `readBody`'s). */
const bodyOf = (read: Promise<Uint8Array | "too_large" | "unreadable">) => (limit: number) =>
  Effect.flatMap(
    Effect.promise(() => read),
    (body) =>
      body === "too_large"
        ? Effect.fail(refused("too_large", `the body is over ${limit} bytes`))
        : body === "unreadable"
        ? Effect.fail(refused("bad_request", "the request body could not be read"))
        : Effect.succeed(body)
  )

/** Sends an admitted call with `node:http`; the answer piped back, metered as it passes. */
const send = (
  request: IncomingMessage,
  response: ServerResponse,
  call: ModelGateway.Admitted,
  run: <A>(effect: Effect.Effect<A>) => Promise<A>
) => {
  const headers: Record<string, string | number> = { ...call.headers }
  const length = call.pipe ?? call.body?.byteLength
  if (length !== undefined) headers["content-length"] = length
  const outgoing = (call.url.startsWith("https:") ? httpsRequest : httpRequest)(call.url, {
    method: call.method,
    headers
  })
  let answered = false
  const unreachable = (error: unknown) => {
    // Destroyed because the client went away: nothing to answer, nothing unreachable.
    if (answered || response.destroyed) return
    answered = true
    void run(call.unreachable(error)).then((answer) => write(response, answer))
  }
  outgoing.on("error", unreachable)
  // The client went away before the answer ended: the provider stops too.
  response.on("close", () => {
    if (!response.writableFinished) outgoing.destroy()
  })
  outgoing.on("response", (upstream) => {
    answered = true
    const status = upstream.statusCode ?? 502
    const answerHeaders = call.answerHeaders(recordOf(upstream.headers))
    if (status < 200 || status >= 300) {
      // The provider's own refusal (429 with its Retry-After, 5xx, 4xx), passed on without the key in it.
      const chunks: Array<Buffer> = []
      let size = 0
      const done = () => {
        const raw = concat(chunks, size).subarray(0, ModelGateway.ERROR_BODY_BYTES)
        const refusedBy = call.refusedBy(status, raw)
        write(response, { status: refusedBy.status, headers: answerHeaders, body: Stream.empty, bytes: refusedBy.body })
      }
      upstream.on("data", (chunk: Buffer) => {
        chunks.push(chunk)
        size += chunk.byteLength
        if (size >= ModelGateway.ERROR_BODY_BYTES) {
          upstream.destroy()
          done()
        }
      })
      upstream.on("end", done)
      upstream.on("error", done)
      return
    }
    const meter = call.meter()
    response.writeHead(status, answerHeaders)
    upstream.on("error", () => response.destroy())
    // The pipe's listeners first: each chunk goes to the client before the meter reads it. The meter ends once the
    // answer's last bytes are out ('finish', still before Node reads the client's next request), or the client or
    // the provider went away ('close').
    upstream.pipe(response)
    if (meter !== undefined) {
      upstream.on("data", meter.push)
      response.on("finish", meter.end)
      response.on("close", meter.end)
    }
  })
  // The client's body as it arrives (Node's parser stops it at its Content-Length), or the one read first.
  if (call.pipe !== undefined) request.pipe(outgoing)
  else outgoing.end(call.body)
}

/** Installs the route in `slot` for the layer's lifetime. `logRequests`: one log line per answer, like the router's. */
export const layer = (
  slot: Slot,
  options: { readonly logRequests: boolean }
): Layer.Layer<never, never, ModelGateway.ModelGateway | PorterConfig.PorterConfig> =>
  Layer.effectDiscard(Effect.gen(function*() {
    const gateway = yield* ModelGateway.ModelGateway
    const { gateway: { maxRequestBytes } } = yield* PorterConfig.PorterConfig
    const context = yield* Effect.context<never>()
    const run = Effect.runPromiseWith(context)

    const log = (request: IncomingMessage, response: ServerResponse) => {
      if (!options.logRequests) return
      response.on("finish", () =>
        void run(
          Effect.log("Sent HTTP response").pipe(
            Effect.annotateLogs({
              "http.method": request.method,
              "http.url": (request.url ?? "").split("?")[0],
              "http.status": response.statusCode
            })
          )
        ))
    }

    slot.handle = (request, response) => {
      const url = request.url ?? "/"
      if (!url.startsWith("/gateway/")) return false
      log(request, response)
      const parsed = GatewayApp.parsePath(url)
      if (typeof parsed === "string") {
        const body = JSON.stringify(GatewayApp.notFoundBody(parsed))
        response.writeHead(404, { ...JSON_HEADERS, "content-length": Buffer.byteLength(body) })
        response.end(body)
        return true
      }
      const method = request.method ?? "GET"
      // A POST body Porter leaves as it is, with its length declared within the limit, is piped upstream once the
      // call is admitted; another is read from now on (in by the time core asks for it, after the credential).
      const pipeable = ModelGateway.pipeableBytesOf(
        { ...parsed, method },
        request.headers["content-length"],
        maxRequestBytes
      )
      const early = method === "POST" && pipeable === undefined ? readBody(request, maxRequestBytes) : undefined
      const call: ModelGateway.GatewayRequest = {
        ...parsed,
        method,
        headers: recordOf(request.headers),
        body: (limit) => bodyOf(early ?? readBody(request, limit))(limit),
        pipeableBytes: pipeable
      }
      const answer = (outcome: ModelGateway.Admitted | ModelGateway.GatewayAnswer) => {
        if (ModelGateway.isAdmitted(outcome)) return send(request, response, outcome, run)
        // Refused: a body left unread is read and dropped, so the connection can take the next request.
        if (pipeable !== undefined) request.resume()
        write(response, outcome)
      }
      const failed = () => {
        if (response.headersSent) return void response.destroy()
        response.writeHead(500, JSON_HEADERS)
        response.end(JSON.stringify({ error: { message: "internal error", type: "api_error" } }))
      }
      try {
        // A busy agent's calls are admitted at once, without an effect (the task's grant kept).
        const now = gateway.admitNow(call, context)
        if (now !== undefined) {
          answer(now)
          return true
        }
      } catch {
        failed()
        return true
      }
      run(gateway.admit(call)).then(answer).catch(failed)
      return true
    }
    yield* Effect.addFinalizer(() => Effect.sync(() => void (slot.handle = undefined)))
  }))

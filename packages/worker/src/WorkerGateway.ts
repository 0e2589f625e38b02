/**
 * The model gateway on the Worker: `/gateway/…` answered without the router, and sent upstream with workerd's own
 * `fetch` (not Effect's `HttpClient`). Core admits the call (`ModelGateway.admit`: the credential, the task, the
 * budgets, the key, the upstream request; `admitNow` first, without running an effect while the isolate keeps the
 * task's grant); this module sends it and hands the answer back as a Web stream that the
 * meter reads chunk by chunk as the client pulls it (`ModelGateway.metered`: nothing is read ahead of the client).
 * The client going away cancels that stream, which cancels the upstream call; the meter counts what came.
 *
 * Why not `tee()` the answer (one branch to the client natively, one to the meter): workerd tells a `tee()`d branch's
 * reader nothing when the client goes away (`request.signal` stayed unaborted through Miniflare, even with the
 * compatibility flag `enable_request_signal`), so the upstream call would run to its end; and measured in this route
 * (bench/gateway, December 2026) it showed no clear gain (3.8–4.2 ms added against 3.4 with the pull stream, on a
 * loaded machine; on a quiet one, 2.02 against 1.88–1.96, and a `TransformStream` 1.84–2.10). The same route
 * returning the upstream body untouched (no meter) did match the native floor: the JavaScript stream is most of what
 * the gateway adds in workerd.
 *
 * A body Porter leaves as it is (`ModelGateway.readsBody`) with a declared length within `gateway.maxRequestBytes` goes
 * upstream as workerd's own stream once the call is admitted, never held in the isolate; another (a Chat Completions
 * request, a chunked body) is read first, within the limit. Reading every body first, as the floor does, was slower
 * here: 2.13–2.28 ms added against 1.82–1.89 piped (quiet machine, runs taking turns).
 */
import { GatewayAccess, GatewayApp, ModelGateway, PorterConfig } from "@porter/core"
import { Context, Effect, Stream } from "effect"
import * as WorkerBackground from "./WorkerBackground.ts"

const JSON_HEADERS: Record<string, string> = { "content-type": "application/json" }

/** A Web `Headers` as the plain record core reads (workerd gives lower-cased names). */
const recordOf = (headers: Headers): Record<string, string> => {
  const out: Record<string, string> = {}
  headers.forEach((value, name) => {
    out[name] = value
  })
  return out
}

/** The path and query of an absolute URL, without parsing it. */
const pathAndQueryOf = (url: string): string => {
  const start = url.indexOf("/", url.indexOf("://") + 3)
  if (start < 0) return "/"
  const hash = url.indexOf("#", start)
  return hash < 0 ? url.slice(start) : url.slice(start, hash)
}

/** At most `limit` bytes of `stream` (`undefined` past it); the rest is cancelled. */
const readAtMost = async (
  stream: ReadableStream<Uint8Array> | null,
  limit: number,
  overflow: "cut" | "refuse"
): Promise<Uint8Array | undefined> => {
  if (stream === null) return new Uint8Array(0)
  const reader = stream.getReader()
  const chunks: Array<Uint8Array> = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    chunks.push(value)
    size += value.byteLength
    if (size > limit) {
      void reader.cancel().catch(() => {})
      if (overflow === "refuse") return undefined
      break
    }
  }
  return ModelGateway.joinedAtMost(chunks, limit)
}

const toResponse = (answer: ModelGateway.GatewayAnswer): Response =>
  new Response(
    answer.bytes ?? answer.web ?? Stream.toReadableStream(answer.body),
    { status: answer.status, headers: answer.headers }
  )

/** How a call's Effect work runs: in the request's context (its `waitUntil` for the background). */
type Runner = <A>(effect: Effect.Effect<A>) => Promise<A>

/** Sends an admitted call with workerd's `fetch`; the answer as workerd's own stream (see the module's comment). */
const send = async (
  request: Request,
  call: ModelGateway.Admitted,
  run: Runner,
  ctx: WorkerBackground.WaitUntil
): Promise<Response> => {
  let upstream: Response
  try {
    upstream = await fetch(call.url, {
      method: call.method,
      headers: call.headers,
      // The client's body as it arrives (workerd keeps its declared length), or the one read first.
      body: call.pipe !== undefined ? request.body : call.body ?? null,
      redirect: "manual"
    })
  } catch (error) {
    return toResponse(await run(call.unreachable(error)))
  }
  const headers = call.answerHeaders(recordOf(upstream.headers))
  if (upstream.status < 200 || upstream.status >= 300) {
    // The provider's own refusal (429 with its Retry-After, 5xx, 4xx), passed on without the key in it.
    const raw = await readAtMost(upstream.body, ModelGateway.ERROR_BODY_BYTES, "cut").catch(() => undefined)
    const refused = call.refusedBy(upstream.status, raw ?? new Uint8Array(0))
    return new Response(refused.body, { status: refused.status, headers })
  }
  const meter = call.meter()
  if (meter === undefined) return new Response(upstream.body, { status: upstream.status, headers })
  if (upstream.body === null) {
    meter.end()
    return new Response(null, { status: upstream.status, headers })
  }
  // The meter ends a turn after the answer's last chunk (`afterAnswer`), so that workerd sends the answer's end first
  // rather than after the call is priced and counted; still before the agent's next call can arrive, and kept alive
  // by `waitUntil` once the answer is sent.
  const endSoon = () => ctx.waitUntil(WorkerBackground.afterAnswer().then(meter.end))
  return new Response(ModelGateway.metered(upstream.body, meter.push, endSoon), { status: upstream.status, headers })
}

/**
 * The gateway's handler for the Worker: any request whose path starts `/gateway/` (`GatewayApp.isGatewayRequest`),
 * answered like `GatewayApp`'s routes.
 */
export const route: Effect.Effect<
  (request: Request, ctx: WorkerBackground.WaitUntil) => Promise<Response>,
  never,
  ModelGateway.ModelGateway | PorterConfig.PorterConfig
> = Effect.gen(function*() {
  const gateway = yield* ModelGateway.ModelGateway
  const { gateway: { maxRequestBytes } } = yield* PorterConfig.PorterConfig
  const base = yield* Effect.context<never>()

  const refused = (refusal: "too_large" | "bad_request", message: string) =>
    Effect.fail(new GatewayAccess.GatewayRefused({ refusal, message }))

  const unreadable = () => refused("bad_request", "the request body could not be read")
  const tooLarge = (limit: number) => refused("too_large", `the body is over ${limit} bytes`)

  /**
   * The request's body within `limit`: with a `Content-Length` (every CLI sends one) in one `arrayBuffer()`, which
   * costs workerd less than a reader, started as the request arrives (`early`) so that it is in by the time core asks
   * for it (after the credential); otherwise read up to the limit when core asks.
   */
  const bodyOf = (request: Request, early: Promise<ArrayBuffer> | undefined) => (limit: number) => {
    if (early !== undefined) {
      return Effect.flatMap(
        Effect.promise(() => early.then((buffer) => ({ buffer }), (error: unknown) => ({ error }))),
        (read) =>
          "error" in read
            ? unreadable()
            : read.buffer.byteLength > limit
            ? tooLarge(limit)
            : Effect.succeed(new Uint8Array(read.buffer))
      )
    }
    const declared = Number(request.headers.get("content-length") ?? "NaN")
    if (Number.isFinite(declared) && declared > limit) return tooLarge(limit)
    return Effect.flatMap(
      Effect.promise(() =>
        readAtMost(request.body, limit, "refuse").then((bytes) => ({ bytes }), (error: unknown) => ({ error }))
      ),
      (read) => "error" in read ? unreadable() : read.bytes === undefined ? tooLarge(limit) : Effect.succeed(read.bytes)
    )
  }

  /** A POST's body read at once when its declared length is within the limit. */
  const earlyBody = (request: Request): Promise<ArrayBuffer> | undefined => {
    if (request.method !== "POST") return undefined
    const declared = Number(request.headers.get("content-length") ?? "NaN")
    if (!Number.isFinite(declared) || declared > maxRequestBytes) return undefined
    const read = request.arrayBuffer()
    read.catch(() => {})
    return read
  }

  return (request, ctx) => {
    const parsed = GatewayApp.parsePath(pathAndQueryOf(request.url))
    if (typeof parsed === "string") {
      return Promise.resolve(
        new Response(JSON.stringify(GatewayApp.notFoundBody(parsed)), { status: 404, headers: JSON_HEADERS })
      )
    }
    const context = Context.add(base, WorkerBackground.CurrentExecutionContext, ctx)
    const run: Runner = Effect.runPromiseWith(context)
    const pipeable = request.body === null
      ? undefined
      : ModelGateway.pipeableBytesOf(
        { ...parsed, method: request.method },
        request.headers.get("content-length"),
        maxRequestBytes
      )
    const call: ModelGateway.GatewayRequest = {
      ...parsed,
      method: request.method,
      headers: recordOf(request.headers),
      body: bodyOf(request, pipeable === undefined ? earlyBody(request) : undefined),
      pipeableBytes: pipeable
    }
    const answer = (outcome: ModelGateway.Admitted | ModelGateway.GatewayAnswer) =>
      ModelGateway.isAdmitted(outcome) ? send(request, outcome, run, ctx) : toResponse(outcome)
    // A busy agent's calls are admitted at once, without an effect (the task's grant kept in the isolate).
    const now = gateway.admitNow(call, context)
    return now !== undefined ? Promise.resolve(answer(now)) : run(gateway.admit(call)).then(answer)
  }
})

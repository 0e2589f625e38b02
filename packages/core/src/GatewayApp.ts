/**
 * The server side of the model gateway's group (`GatewayApi.ts`): every endpoint is served raw by `ModelGateway`
 * (the request's bytes up to `gateway.maxRequestBytes`, the answer streamed back), and `fallback` answers any other
 * path under `/gateway/` with a 404 in the provider's format. `HttpApp` serves them with the rest of the API.
 */
import { Context, Effect, Layer } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import { HttpApiBuilder } from "effect/http-api"
import * as Api from "./Api.ts"
import { readBytes } from "./CallbacksApp.ts"
import { GatewayRefused } from "./GatewayAccess.ts"
import { type GatewayAnswer, ModelGateway } from "./ModelGateway.ts"
import type { Provider } from "./ModelUsage.ts"

const PATH = /^\/gateway\/tasks\/([^/?]*)\/(anthropic|openai|gemini)(?:\/([^?]*))?$/

/**
 * How a host that is not on the Web platform takes a Web stream as a raw body, if it can (Node:
 * `Readable.fromWeb`, which `@effect/platform-node`'s server pipes): then no chunk passes through an Effect stream.
 * Unset: the answer goes as an Effect stream.
 */
export const RawBody = Context.Reference<((stream: ReadableStream<Uint8Array>) => unknown) | undefined>(
  "@porter/core/GatewayApp/RawBody",
  { defaultValue: () => undefined }
)

/**
 * The answer for the host serving `request`: a Web host (the Worker, any `toWebHandler`) gets the answer's Web stream
 * as it is, a host with a `RawBody` its own stream of it; others the Effect stream.
 */
const toResponse = (
  request: HttpServerRequest.HttpServerRequest,
  answer: GatewayAnswer,
  raw: ((stream: ReadableStream<Uint8Array>) => unknown) | undefined
) =>
  answer.web === undefined
    ? HttpServerResponse.stream(answer.body, { status: answer.status, headers: answer.headers })
    : typeof Request !== "undefined" && request.source instanceof Request
    ? HttpServerResponse.raw(answer.web, { status: answer.status, headers: answer.headers })
    : raw !== undefined
    ? HttpServerResponse.raw(raw(answer.web), { status: answer.status, headers: answer.headers })
    : HttpServerResponse.stream(answer.body, { status: answer.status, headers: answer.headers })

const notFound = (path: string) => HttpServerResponse.jsonUnsafe(notFoundBody(path), { status: 404 })

/** A gateway URL's parts. */
export interface GatewayPath {
  readonly taskId: string
  readonly provider: Provider
  readonly rest: string
  readonly search: string
}

/**
 * The parts of a request's path and query (`/gateway/tasks/:id/<provider>/<rest>?<search>`), or its path alone when
 * it is not a gateway URL (answered `notFoundBody`, 404).
 */
export const parsePath = (pathAndQuery: string): GatewayPath | string => {
  const query = pathAndQuery.indexOf("?")
  const path = query < 0 ? pathAndQuery : pathAndQuery.slice(0, query)
  const match = PATH.exec(path)
  if (match === null) return path
  return {
    taskId: match[1]!,
    provider: match[2] as Provider,
    rest: match[3] ?? "",
    search: query < 0 ? "" : pathAndQuery.slice(query)
  }
}

/** The 404 of a path under `/gateway/` that is no gateway URL. */
export const notFoundBody = (path: string) => ({
  error: { message: `Porter: no gateway route ${path.slice(0, 200)}`, type: "not_found_error" }
})

/** Serves one request: its provider and path read from the URL, its body read on demand within the limit. */
const serve = (
  gateway: ModelGateway["Service"],
  request: HttpServerRequest.HttpServerRequest,
  raw?: ((stream: ReadableStream<Uint8Array>) => unknown) | undefined
) => {
  const parsed = parsePath(request.url)
  if (typeof parsed === "string") return Effect.succeed(notFound(parsed))
  return Effect.map(
    gateway.forward({
      ...parsed,
      method: request.method,
      headers: request.headers,
      body: (limit) =>
        readBytes(request, limit).pipe(
          Effect.catchTags({
            WebhookTooLarge: () =>
              Effect.fail(new GatewayRefused({ refusal: "too_large", message: `the body is over ${limit} bytes` })),
            HttpServerError: () =>
              Effect.fail(new GatewayRefused({ refusal: "bad_request", message: "the request body could not be read" }))
          })
        )
    }),
    (answer) => toResponse(request, answer, raw)
  )
}

/** The model gateway's handlers: requests passed to `ModelGateway`, answers streamed back raw. */
export const GatewayLive = HttpApiBuilder.group(Api.Api, "gateway", (handlers) =>
  Effect.gen(function*() {
    const gateway = yield* ModelGateway
    const raw = yield* RawBody
    const handle = ({ request }: { readonly request: HttpServerRequest.HttpServerRequest }) =>
      serve(gateway, request, raw)
    return handlers
      .handleRaw("anthropicMessages", handle)
      .handleRaw("anthropicCountTokens", handle)
      .handleRaw("openaiResponses", handle)
      .handleRaw("openaiChatCompletions", handle)
      .handleRaw("openaiModels", handle)
      .handleRaw("gemini", handle)
  }))

/** Every other method and path under `/gateway/`: the gateway's own 404s (and its other read-only routes). */
export const fallback: Layer.Layer<never, never, HttpRouter.HttpRouter | ModelGateway> = HttpRouter.use(
  Effect.fn("GatewayApp.fallback")(function*(router) {
    const gateway = yield* ModelGateway
    const raw = yield* RawBody
    yield* router.add("*", "/gateway/*", (request) => serve(gateway, request, raw))
  })
)

/** Whether a Web request is the gateway's (its path starts `/gateway/`), without parsing its URL. */
export const isGatewayRequest = (request: Request): boolean => {
  const url = request.url
  return url.startsWith("/gateway/", url.indexOf("/", url.indexOf("://") + 3))
}

/**
 * The gateway without the router, for Web hosts that want the shortest path (the Worker: the router's request and
 * response objects cost more isolate CPU than the gateway): the same answers as the routes above. `context` is added
 * to each call's (the Worker's execution context, for `Background`).
 */
export const webHandler: Effect.Effect<
  (request: Request, context?: Context.Context<never>) => Promise<Response>,
  never,
  ModelGateway
> = Effect.gen(function*() {
  const gateway = yield* ModelGateway
  const base = yield* Effect.context<never>()
  return (request, context) =>
    Effect.runPromiseWith(context === undefined ? base : Context.merge(base, context))(
      Effect.map(serve(gateway, HttpServerRequest.fromWeb(request)), (response) => HttpServerResponse.toWeb(response))
    )
})

/** The model gateway's handlers (`GatewayLive`). */
export const layer = GatewayLive

/**
 * The server side of the model gateway's group (`GatewayApi.ts`): every endpoint is served raw by `ModelGateway`
 * (the request's bytes up to `gateway.maxRequestBytes`, the answer streamed back), and `fallback` answers any other
 * path under `/gateway/` with a 404 in the provider's format. `HttpApp` serves them with the rest of the API.
 */
import { Effect, Layer } from "effect"
import { HttpRouter, type HttpServerRequest, HttpServerResponse } from "effect/http"
import { HttpApiBuilder } from "effect/http-api"
import * as Api from "./Api.ts"
import { readBytes } from "./CallbacksApp.ts"
import { GatewayRefused } from "./GatewayAccess.ts"
import { type GatewayAnswer, ModelGateway } from "./ModelGateway.ts"
import type { Provider } from "./ModelUsage.ts"

const PATH = /^\/gateway\/tasks\/([^/?]*)\/(anthropic|openai|gemini)(?:\/([^?]*))?$/

const toResponse = (answer: GatewayAnswer) =>
  HttpServerResponse.stream(answer.body, { status: answer.status, headers: answer.headers })

const notFound = (path: string) =>
  HttpServerResponse.jsonUnsafe({
    error: { message: `Porter: no gateway route ${path.slice(0, 200)}`, type: "not_found_error" }
  }, { status: 404 })

/** Serves one request: its provider and path read from the URL, its body read on demand within the limit. */
const serve = (gateway: ModelGateway["Service"], request: HttpServerRequest.HttpServerRequest) => {
  const query = request.url.indexOf("?")
  const path = query < 0 ? request.url : request.url.slice(0, query)
  const match = PATH.exec(path)
  if (match === null) return Effect.succeed(notFound(path))
  return Effect.map(
    gateway.forward({
      taskId: match[1]!,
      provider: match[2] as Provider,
      method: request.method,
      rest: match[3] ?? "",
      search: query < 0 ? "" : request.url.slice(query),
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
    toResponse
  )
}

export const GatewayLive = HttpApiBuilder.group(Api.Api, "gateway", (handlers) =>
  Effect.gen(function*() {
    const gateway = yield* ModelGateway
    const handle = ({ request }: { readonly request: HttpServerRequest.HttpServerRequest }) => serve(gateway, request)
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
    yield* router.add("*", "/gateway/*", (request) => serve(gateway, request))
  })
)

export const layer = GatewayLive

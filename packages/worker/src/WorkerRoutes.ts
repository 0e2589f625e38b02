/**
 * How the Worker routes a request before its router: the paths it hands the App Worker (`isAppPath`), and the
 * webhook's fast path (`webhookRoute`: `Intake.answer` without the router's request and response objects). Both read
 * the URL without parsing it where they can (`new URL` costs more, on every request).
 */
import { Errors, HttpApp, Intake, PorterConfig } from "@porter/core"
import { Context, Effect } from "effect"
import { HttpServerRequest } from "effect/http"
import * as WorkerBackground from "./WorkerBackground.ts"

/**
 * Paths of the App Worker: the web app (`/app…`, `/login…`, `/logout`, `/oauth/callback`), the MCP server (`/mcp`)
 * and the API's OpenAPI document (`/openapi.json`: its generator is left out of the API Worker, see `Build.apiOnly`). Kept out of the API Worker so that what answers webhooks, callbacks and model calls stays small.
 */
export const isAppPath = (pathname: string): boolean =>
  pathname === "/app" || pathname.startsWith("/app/") || pathname === "/login" || pathname.startsWith("/login/") ||
  pathname === "/logout" || pathname === "/oauth/callback" || pathname === "/mcp" || pathname.startsWith("/mcp/") ||
  pathname === "/openapi.json"

export const appMissing = () =>
  new Response(
    JSON.stringify({
      _tag: "NotFound",
      message: "the web app, the MCP server and /openapi.json are served by the App Worker (porter-app): deploy it " +
        "and bind it as APP " +
        "(README: Deploy)"
    }),
    { status: 404, headers: { "content-type": "application/json" } }
  )

const JSON_HEADERS: Record<string, string> = { "content-type": "application/json" }
const utf8 = new TextDecoder()

/** The request's headers as the plain record the webhook handler reads (workerd gives lower-cased names). */
const headersOf = (request: Request): Record<string, string> => {
  const headers: Record<string, string> = {}
  request.headers.forEach((value, name) => {
    headers[name] = value
  })
  return headers
}

const toResponse = (answer: Intake.WebhookAnswer) =>
  new Response(JSON.stringify(answer.body), { status: answer.status, headers: JSON_HEADERS })

/**
 * `POST /webhooks/github` without the router: the Worker's hot path (`Intake.answer`). With a
 * `Content-Length` within the limit (every GitHub delivery) the body is read before the handler's fiber starts,
 * in one `arrayBuffer()`; otherwise core's reader streams it and stops at the limit.
 */
export const webhookRoute = Effect.gen(function*() {
  const { answer: handle } = yield* Intake.Intake
  const { maxWebhookBytes } = yield* PorterConfig.PorterConfig
  const context = yield* Effect.context<never>()
  const answer = (request: Request, ctx: WorkerBackground.WaitUntil, body: Intake.WebhookBody) =>
    Effect.runPromiseWith(Context.add(context, WorkerBackground.CurrentExecutionContext, ctx))(
      handle(headersOf(request), body)
    ).then(toResponse)
  return (request: Request, ctx: WorkerBackground.WaitUntil): Promise<Response> => {
    const declared = Number(request.headers.get("content-length") ?? "NaN")
    if (!Number.isFinite(declared) || declared > maxWebhookBytes) {
      return answer(request, ctx, (limit) => HttpApp.readBody(HttpServerRequest.fromWeb(request), limit))
    }
    return request.arrayBuffer().then(
      (buffer) =>
        answer(request, ctx, (limit) =>
          buffer.byteLength > limit
            ? Effect.fail(new Errors.WebhookTooLarge({ limitBytes: limit }))
            : Effect.succeed(utf8.decode(buffer))),
      // A body that cannot be read: a defect for the handler, answered 400 like the router's read failure.
      (error: unknown) => answer(request, ctx, () => Effect.die(error))
    )
  }
})

/** A URL's path, without parsing the URL (`new URL` costs more, on every request). */
export const pathOf = (url: string) => {
  const start = url.indexOf("/", url.indexOf("://") + 3)
  if (start < 0) return "/"
  const query = url.indexOf("?", start)
  const hash = url.indexOf("#", start)
  const end = Math.min(query < 0 ? url.length : query, hash < 0 ? url.length : hash)
  return url.slice(start, end)
}

const WEBHOOK_PATH = "/webhooks/github"

/** `POST /webhooks/github`; the URL is parsed only when its path is not plainly that (`new URL` costs more). */
export const isWebhook = (request: Request) => {
  if (request.method !== "POST") return false
  const url = request.url
  const path = url.indexOf("/", url.indexOf("://") + 3)
  if (path > 0 && url.length === path + WEBHOOK_PATH.length && url.endsWith(WEBHOOK_PATH)) return true
  return new URL(url).pathname === WEBHOOK_PATH
}

/**
 * The emulator's REST routes on effect's `HttpRouter`. Each route keeps its OpenAPI path template (what
 * the tests match against GitHub's description); the router gets the template in its `:param` form, a
 * greedy last parameter (a ref or branch name with slashes, a file path) as `*`. Every request then
 * goes through the same steps: the JSON body (25 MB at most: 413; malformed: 400 `Problems parsing
 * JSON`), the token (401 `Bad credentials`), the handler, and the answer with GitHub's headers
 * (`Date` from the emulator's clock, `x-github-request-id`, static `x-ratelimit-*`); `ApiError`s
 * become GitHub's error bodies and defects a 500 naming the emulator.
 */
import { Effect, Stream } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import { randomBytes } from "node:crypto"
import { authenticate, credentialOf } from "./Auth.ts"
import type { ApiError, Reply, Route } from "./Http.ts"
import { badRequest, notFound } from "./Http.ts"
import type { State } from "./State.ts"

/** Last parameters that may contain slashes, as GitHub accepts them (`x-multi-segment` in its description). */
export const GREEDY: ReadonlySet<string> = new Set(["branch", "ref", "tree_sha", "commit_sha", "path"])

const MAX_BODY_BYTES = 25 * 1024 * 1024

export interface RouterPath {
  /** The template in `HttpRouter`'s form: `{name}` → `:name`, a greedy last parameter → `*`. */
  readonly path: HttpRouter.PathInput
  /** The name of the greedy last parameter, if any. */
  readonly tail: string | undefined
}

/** `/repos/{owner}/{repo}/git/refs/{ref}` → `/repos/:owner/:repo/git/refs/*` (tail `ref`). */
export const routerPath = (template: string): RouterPath => {
  const segments = template.split("/")
  let tail: string | undefined
  const path = segments.map((segment, index) => {
    const whole = /^\{(\w+)\}$/.exec(segment)
    if (whole && index === segments.length - 1 && GREEDY.has(whole[1]!)) {
      tail = whole[1]
      return "*"
    }
    return segment.replace(/:/g, "::").replace(/\{(\w+)\}/g, ":$1")
  }).join("/")
  return { path: path as HttpRouter.PathInput, tail }
}

/** The headers GitHub's API puts on every answer. */
export const githubHeaders = (state: State): Record<string, string> => {
  const hex = (size: number) => randomBytes(size).toString("hex").toUpperCase()
  return {
    // The emulator's clock (shiftable): Octokit's App auth reads `Date` to correct JWT clock skew.
    "date": new Date(state.now()).toUTCString(),
    "x-github-media-type": "github.v3; format=json",
    "x-github-request-id": `${hex(2)}:${hex(3)}`,
    "x-github-api-version-selected": "2022-11-28",
    "x-ratelimit-limit": "5000",
    "x-ratelimit-remaining": "4999",
    "x-ratelimit-reset": String(Math.floor(state.now() / 1000) + 3600),
    "x-ratelimit-used": "1",
    "x-ratelimit-resource": "core"
  }
}

export const toResponse = (reply: Reply, headers: Record<string, string>): HttpServerResponse.HttpServerResponse => {
  switch (reply._tag) {
    case "Json":
      return HttpServerResponse.text(JSON.stringify(reply.body), {
        status: reply.status,
        headers: { ...headers, ...reply.headers },
        contentType: "application/json; charset=utf-8"
      })
    case "Text":
      return HttpServerResponse.text(reply.body, {
        status: reply.status,
        headers: { ...headers, ...reply.headers },
        contentType: reply.contentType
      })
    case "Bytes":
      return HttpServerResponse.uint8Array(reply.body, {
        status: reply.status,
        headers,
        contentType: reply.contentType
      })
    case "Empty":
      return HttpServerResponse.empty({ status: reply.status, headers: { ...headers, ...reply.headers } })
  }
}

const errorReply = (error: ApiError): Reply => ({ _tag: "Json", status: error.status, body: error.body })

/** GitHub's 404 for a path no route serves. */
export const notFoundResponse = (state: State) => toResponse(errorReply(notFound()), githubHeaders(state))

/** The whole body, or `tooLarge` past 25 MB (read to the end, so the answer reaches the client). */
const readBody = (request: HttpServerRequest.HttpServerRequest) =>
  Stream.runFold(
    request.stream,
    () => ({ chunks: [] as Array<Uint8Array>, size: 0 }),
    (read, chunk) => {
      read.size += chunk.length
      if (read.size <= MAX_BODY_BYTES) read.chunks.push(chunk)
      return read
    }
  ).pipe(
    Effect.map((read) => read.size > MAX_BODY_BYTES ? "tooLarge" as const : Buffer.concat(read.chunks)),
    Effect.orElseSucceed(() => Buffer.alloc(0))
  )

const answer = (state: State, route: Route, params: Readonly<Record<string, string>>) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const headers = githubHeaders(state)
    const reply = yield* Effect.gen(function*() {
      const raw = yield* readBody(request)
      if (raw === "tooLarge") return { _tag: "Json", status: 413, body: { message: "Payload too large" } } as const
      let body: unknown = undefined
      const form = route.web === true &&
        (request.headers["content-type"] ?? "").toLowerCase().startsWith("application/x-www-form-urlencoded")
      if (form) body = Object.fromEntries(new URLSearchParams(raw.toString("utf8")))
      else if (raw.length > 0) {
        try {
          body = JSON.parse(raw.toString("utf8"))
        } catch {
          return errorReply(badRequest("Problems parsing JSON"))
        }
      }
      const url = new URL(request.url, "http://127.0.0.1")
      const principal = route.path.startsWith("/_emulator/") || route.web === true
        ? { _tag: "Anonymous" as const }
        : yield* authenticate(state, credentialOf(request.headers["authorization"]))
      return yield* route.handler({
        method: request.method,
        path: url.pathname,
        params,
        query: url.searchParams,
        headers: request.headers,
        body,
        principal
      }).pipe(Effect.withSpan(`GitHubEmulator ${request.method} ${route.path}`))
    }).pipe(
      Effect.catchTag("ApiError", (error) => Effect.succeed(errorReply(error))),
      Effect.catchDefect((defect) =>
        Effect.succeed<Reply>({
          _tag: "Json",
          status: 500,
          body: { message: `Emulator error: ${defect instanceof Error ? defect.message : String(defect)}` }
        })
      )
    )
    return toResponse(reply, headers)
  })

/** The router's parameters as a route's: the greedy tail under its template name, `undefined`s dropped. */
const paramsOf = (raw: Readonly<Record<string, string | undefined>>, tail: string | undefined) => {
  const params: Record<string, string> = {}
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined) continue
    if (name === "*") {
      if (tail !== undefined) params[tail] = value
    } else params[name] = value
  }
  return params
}

/**
 * The emulator's routes as `HttpRouter` routes. A greedy route and a plain one on the same path and
 * method (`…/branches` and `…/branches/{branch}`) share one router entry, since the router serves
 * `…/*` at `…` too; the request goes to the plain route when the tail is absent.
 */
export const httpRoutes = (state: State, routes: ReadonlyArray<Route>): Array<HttpRouter.Route<never, never>> => {
  interface Entry {
    plain?: Route
    greedy?: { readonly route: Route; readonly tail: string }
  }
  const entries = new Map<string, { readonly method: Route["method"]; readonly base: string; entry: Entry }>()
  for (const route of routes) {
    const { path, tail } = routerPath(route.path)
    const base = tail === undefined ? path : path.slice(0, -2)
    const key = `${route.method} ${base}`
    const found = entries.get(key) ?? { method: route.method, base, entry: {} }
    if (tail === undefined) found.entry.plain = route
    else found.entry.greedy = { route, tail }
    entries.set(key, found)
  }
  return [...entries.values()].map(({ base, entry, method }) => {
    const { greedy, plain } = entry
    if (!greedy) {
      return HttpRouter.route(
        method,
        base as HttpRouter.PathInput,
        Effect.flatMap(HttpRouter.params, (params) => answer(state, plain!, paramsOf(params, undefined)))
      )
    }
    return HttpRouter.route(
      method,
      `${base}/*` as HttpRouter.PathInput,
      Effect.flatMap(HttpRouter.params, (params) => {
        if (params["*"] !== undefined) return answer(state, greedy.route, paramsOf(params, greedy.tail))
        if (plain) return answer(state, plain, paramsOf(params, undefined))
        if (!greedy.route.tailMayBeEmpty) return Effect.succeed(notFoundResponse(state))
        return answer(state, greedy.route, { ...paramsOf(params, undefined), [greedy.tail]: "" })
      })
    )
  })
}

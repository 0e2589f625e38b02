/**
 * The emulator's small HTTP vocabulary: GitHub-shaped errors, replies, request decoding with Schema,
 * pagination, and routes keyed by the OpenAPI path templates of GitHub's REST description (so the tests
 * can find the operation a route implements and validate its answers against the spec). `Router.ts`
 * serves these routes through effect's `HttpRouter`.
 */
import { Effect, Schema } from "effect"
import type { Principal } from "./State.ts"

const DOCS = "https://docs.github.com/rest"

/** An answer GitHub gives as `{ message, documentation_url, status }` (plus `errors` for 422). */
export class ApiError extends Schema.TaggedError<ApiError>()("ApiError", {
  status: Schema.Int,
  message: Schema.String,
  errors: Schema.optional(Schema.Array(Schema.Unknown)),
  documentationUrl: Schema.optional(Schema.String)
}) {
  get body(): Record<string, unknown> {
    return {
      message: this.message,
      ...(this.errors ? { errors: this.errors } : {}),
      documentation_url: this.documentationUrl ?? DOCS,
      status: String(this.status)
    }
  }
}

export const badCredentials = () => new ApiError({ status: 401, message: "Bad credentials" })
export const requiresAuthentication = () => new ApiError({ status: 401, message: "Requires authentication" })
export const notFound = () => new ApiError({ status: 404, message: "Not Found" })
export const forbidden = (message: string) => new ApiError({ status: 403, message })
export const notAccessibleByIntegration = () => forbidden("Resource not accessible by integration")
export const badRequest = (message: string) => new ApiError({ status: 400, message })
export const unprocessable = (message: string) => new ApiError({ status: 422, message })

/** GitHub's 422 "Validation Failed" with one `errors` entry. */
export const validationFailed = (error: {
  readonly resource: string
  readonly field?: string
  readonly code: string
  readonly message?: string
}) => new ApiError({ status: 422, message: "Validation Failed", errors: [error] })

export type Reply =
  | {
    readonly _tag: "Json"
    readonly status: number
    readonly body: unknown
    readonly headers?: Record<string, string>
  }
  | {
    readonly _tag: "Text"
    readonly status: number
    readonly body: string
    readonly contentType: string
    readonly headers?: Record<string, string>
  }
  | { readonly _tag: "Bytes"; readonly status: number; readonly body: Uint8Array; readonly contentType: string }
  | { readonly _tag: "Empty"; readonly status: number; readonly headers?: Record<string, string> }

export const json = (body: unknown, status = 200, headers?: Record<string, string>): Reply =>
  headers ? { _tag: "Json", status, body, headers } : { _tag: "Json", status, body }
export const text = (body: string, contentType: string, status = 200): Reply => ({
  _tag: "Text",
  status,
  body,
  contentType
})
export const bytes = (body: Uint8Array, contentType: string, status = 200): Reply => ({
  _tag: "Bytes",
  status,
  body,
  contentType
})
export const noContent: Reply = { _tag: "Empty", status: 204 }

export interface ApiRequest {
  readonly method: string
  /** The path without the query string, as received. */
  readonly path: string
  readonly params: Readonly<Record<string, string>>
  readonly query: URLSearchParams
  /** Lower-cased names. */
  readonly headers: Readonly<Record<string, string | undefined>>
  /** The parsed JSON body, `undefined` when there was none. */
  readonly body: unknown
  readonly principal: Principal
}

export type Handler = (request: ApiRequest) => Effect.Effect<Reply, ApiError>

export interface Route {
  readonly method: "GET" | "POST" | "PATCH" | "PUT" | "DELETE"
  /**
   * An OpenAPI path template of GitHub's REST description, or a `/_emulator/…` path. A last parameter
   * named in `Router.GREEDY` (`{ref}`, `{branch}`, `{path}`, …) may contain slashes, as GitHub accepts.
   */
  readonly path: string
  readonly handler: Handler
  /** The greedy last parameter may be empty (`…/contents/` is the root directory); otherwise 404. */
  readonly tailMayBeEmpty?: boolean
  /**
   * A page of GitHub's web host rather than a REST route (`/login/oauth/…`): no token is checked, and a form body
   * (`application/x-www-form-urlencoded`) is read as an object of strings, as well as JSON.
   */
  readonly web?: boolean
}

/** Decodes a request body with a schema; a mismatch is GitHub's 422 "Invalid request." */
export const decodeBody = <A>(schema: Schema.ConstraintDecoder<A>) => {
  const decode = Schema.decodeUnknownEffect(schema)
  return (body: unknown): Effect.Effect<A, ApiError> =>
    decode(body ?? {}).pipe(
      Effect.mapError((error) => unprocessable(`Invalid request.\n\n${error.message}`))
    )
}

export interface Page {
  readonly perPage: number
  readonly page: number
}

/** `per_page` (default 30, at most 100) and `page` (from 1), as GitHub reads them. */
export const pageOf = (query: URLSearchParams): Page => {
  const perPage = Number.parseInt(query.get("per_page") ?? "30", 10)
  const page = Number.parseInt(query.get("page") ?? "1", 10)
  return {
    perPage: Number.isFinite(perPage) && perPage > 0 ? Math.min(perPage, 100) : 30,
    page: Number.isFinite(page) && page > 0 ? page : 1
  }
}

/** One page of `items` and GitHub's `Link` header (`next`, `last`, `first`, `prev`) when there are more. */
export const paginate = <A>(
  items: ReadonlyArray<A>,
  request: ApiRequest,
  baseUrl: string
): { readonly items: ReadonlyArray<A>; readonly headers: Record<string, string> } => {
  const { page, perPage } = pageOf(request.query)
  const last = Math.max(1, Math.ceil(items.length / perPage))
  const slice = items.slice((page - 1) * perPage, page * perPage)
  const link = (target: number, rel: string) => {
    const query = new URLSearchParams(request.query)
    query.set("per_page", String(perPage))
    query.set("page", String(target))
    return `<${baseUrl}${request.path}?${query.toString()}>; rel="${rel}"`
  }
  const links: Array<string> = []
  if (page > 1) links.push(link(page - 1, "prev"))
  if (page < last) links.push(link(page + 1, "next"), link(last, "last"))
  if (page > 1) links.push(link(1, "first"))
  return { items: slice, headers: links.length > 0 ? { link: links.join(", ") } : {} }
}

/** A JSON list answer paginated like GitHub's. */
export const jsonPage = <A>(items: ReadonlyArray<A>, request: ApiRequest, baseUrl: string): Reply => {
  const page = paginate(items, request, baseUrl)
  return json(page.items, 200, page.headers)
}

/** GitHub's timestamps: ISO 8601 in UTC without milliseconds. */
export const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z")

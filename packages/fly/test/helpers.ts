/**
 * Test wiring: the local machines server as a layer, the Fly provisioner pointed at it, and an HttpClient that
 * checks every request the adapter sends against Fly's OpenAPI description before it goes out.
 */
import type { MachineProvisioner } from "@porter/core"
import { FlyMachines } from "@porter/fly"
import { fakeMachineCommand, type Options as ServerOptions, type Server, start } from "@porter/testkit/fly"
import { Ajv } from "ajv"
import { Context, Effect, Layer, Redacted } from "effect"
import { FetchHttpClient, HttpClient, type HttpClientRequest } from "effect/http"
import { readFileSync } from "node:fs"

// ---- OpenAPI checking ----

interface OpenApiParameter {
  readonly name: string
  readonly in: "path" | "query" | "header"
  readonly required?: boolean
  readonly schema: object
}
interface OpenApiOperation {
  readonly operationId: string
  readonly responses: Record<string, { readonly content?: Record<string, { schema: object }> }>
  readonly parameters?: ReadonlyArray<OpenApiParameter>
  readonly requestBody?: { readonly required?: boolean; readonly content: Record<string, { schema: object }> }
}
interface OpenApi {
  readonly paths: Record<string, Record<string, OpenApiOperation>>
  readonly components: { readonly schemas: Record<string, object> }
}

const SPEC_PATH = new URL("./openapi/fly-machines-openapi.json", import.meta.url)
/** Fly's description, unmodified (provenance in `openapi/README.md`); `FLY_OPENAPI` points at another copy. */
export const spec: OpenApi = JSON.parse(readFileSync(process.env["FLY_OPENAPI"] ?? SPEC_PATH, "utf8"))

/**
 * The description's schemas declare no `additionalProperties`, so a misspelt field would pass. Checking against a
 * closed copy (no properties beyond the declared ones) makes a typo a failure.
 */
const closed = (schema: unknown): unknown => {
  if (Array.isArray(schema)) return schema.map(closed)
  if (schema === null || typeof schema !== "object") return schema
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(schema)) {
    out[key] = key === "properties"
      ? Object.fromEntries(Object.entries(value as object).map(([k, v]) => [k, closed(v)]))
      : closed(value)
  }
  if ("properties" in out && !("additionalProperties" in out)) out["additionalProperties"] = false
  return out
}

const ajv = new Ajv({ strict: false, allErrors: true, coerceTypes: false })
ajv.addSchema({ $id: "fly", components: closed(spec.components) as object })
const ajvParams = new Ajv({ strict: false, allErrors: true, coerceTypes: true })
ajvParams.addSchema({ $id: "fly", components: spec.components })

const refs = (schema: object): object =>
  JSON.parse(JSON.stringify(schema).replaceAll("\"#/components/", "\"fly#/components/"))

export interface CheckedRequest {
  readonly method: string
  readonly path: string
  readonly operationId: string
  readonly body?: unknown
  /** Status of the JSON answer, once it was checked too. */
  answerChecked?: number
}

/** Finds the operation for `method path` (path relative to the API base) and lists what is wrong with the request. */
export const check = (
  method: string,
  path: string,
  query: URLSearchParams,
  headers: Readonly<Record<string, string>>,
  body: unknown
): { readonly operationId?: string; readonly problems: ReadonlyArray<string> } => {
  const problems: Array<string> = []
  for (const [template, operations] of Object.entries(spec.paths)) {
    const pattern = new RegExp(`^${template.replace(/\{[^}]+\}/g, "([^/]+)")}$`)
    const match = pattern.exec(path)
    if (!match) continue
    const operation = operations[method.toLowerCase()]
    if (!operation) continue
    const names = [...template.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!)
    const params = operation.parameters ?? []
    names.forEach((name, i) => {
      const declared = params.find((p) => p.in === "path" && p.name === name)
      if (!declared) problems.push(`path parameter ${name} is not declared`)
      else if (decodeURIComponent(match[i + 1]!).length === 0) problems.push(`path parameter ${name} is empty`)
    })
    const queryParams = params.filter((p) => p.in === "query")
    for (const name of new Set(query.keys())) {
      const declared = queryParams.find((p) => p.name === name)
      if (declared) {
        const values = query.getAll(name)
        const validate = ajvParams.compile(refs({ type: "object", properties: { v: declared.schema } }))
        for (const value of values) {
          if (!validate({ v: value })) problems.push(`query ${name}=${value}: ${ajvParams.errorsText(validate.errors)}`)
        }
      } else if (!(name.startsWith("metadata.") && operation.operationId === "Machines_list")) {
        // `metadata.<key>` on Machines_list is documented in Fly's docs, not in the description.
        problems.push(`query parameter ${name} is not declared for ${operation.operationId}`)
      }
    }
    for (const p of queryParams) if (p.required && !query.has(p.name)) problems.push(`query ${p.name} is required`)
    if (!/^(Bearer \S+|FlyV1 \S+)$/.test(headers["authorization"] ?? "")) problems.push("no bearer token")
    const requestBody = operation.requestBody
    if (body !== undefined) {
      const schema = requestBody?.content["application/json"]?.schema
      if (!schema) problems.push(`${operation.operationId} takes no JSON body`)
      else {
        const validate = ajv.compile(refs(schema))
        if (!validate(body)) problems.push(`body: ${ajv.errorsText(validate.errors)}`)
      }
      if (headers["content-type"] !== undefined && !headers["content-type"].startsWith("application/json")) {
        problems.push(`content-type ${headers["content-type"]}`)
      }
    } else if (requestBody?.required) problems.push(`${operation.operationId} needs a body`)
    return { operationId: operation.operationId, problems }
  }
  return { problems: [`${method} ${path} is not in the API description`] }
}

const operations = new Map(
  Object.values(spec.paths).flatMap((byMethod) => Object.values(byMethod)).map((op) => [op.operationId, op] as const)
)

/**
 * What is wrong with an answer: 2xx bodies must match the operation's declared schema (closed), error bodies Fly's
 * `ErrorResponse`. This holds the local machines server to the description too.
 */
export const checkResponse = (operationId: string, status: number, body: unknown): ReadonlyArray<string> => {
  const declared = operations.get(operationId)?.responses[String(status)]?.content?.["application/json"]?.schema
  const schema = declared ?? (status >= 400 ? { $ref: "#/components/schemas/ErrorResponse" } : undefined)
  if (schema === undefined) return []
  const validate = ajv.compile(refs(schema))
  return validate(body) ? [] : [`${operationId} ${status} answer: ${ajv.errorsText(validate.errors)}`]
}

const bodyOf = (request: HttpClientRequest.HttpClientRequest): unknown => {
  const body = request.body
  if (body._tag === "Uint8Array") return JSON.parse(new TextDecoder().decode(body.body))
  if (body._tag === "Empty") return undefined
  return { unsupportedBodyKind: body._tag }
}

/** Every request checked so far, in order. */
export class CheckedRequests
  extends Context.Service<CheckedRequests, Array<CheckedRequest>>()("test/CheckedRequests")
{}

/**
 * A fetch HttpClient that validates each request against the description first; a request that does not match
 * dies (a defect fails the test wherever it happens) and is never sent.
 */
export const checkingHttpClient = (apiBase: () => string): Layer.Layer<HttpClient.HttpClient | CheckedRequests> =>
  Layer.effectContext(Effect.gen(function*() {
    const log: Array<CheckedRequest> = []
    const fetchClient = yield* HttpClient.HttpClient
    // `transform` sees the request as it goes out (after every `mapRequest` of the adapter).
    const client = HttpClient.transform(fetchClient, (effect, request) =>
      Effect.suspend(() => {
        const url = new URL(request.url)
        const base = new URL(apiBase())
        const path = url.pathname.startsWith(base.pathname) ? url.pathname.slice(base.pathname.length) : url.pathname
        const query = new URLSearchParams(
          request.urlParams.params.map(([k, v]) => [k, typeof v === "string" ? v : "<redacted>"] as [string, string])
        )
        for (const [k, v] of url.searchParams) query.append(k, v)
        const body = bodyOf(request)
        const result = check(request.method, path, query, request.headers, body)
        if (result.problems.length > 0 || result.operationId === undefined) {
          return Effect.die(
            new Error(
              `request does not match the Fly OpenAPI description: ${request.method} ${path}: ${
                result.problems.join("; ")
              }`
            )
          )
        }
        const entry: CheckedRequest = {
          method: request.method,
          path,
          operationId: result.operationId,
          ...(body !== undefined ? { body } : {})
        }
        log.push(entry)
        const operationId = result.operationId
        return Effect.tap(effect, (response) =>
          (response.headers["content-type"] ?? "").startsWith("application/json")
            ? Effect.flatMap(Effect.orDie(response.json), (answer) => {
              const problems = checkResponse(operationId, response.status, answer)
              entry.answerChecked = response.status
              return problems.length === 0
                ? Effect.void
                : Effect.die(new Error(`answer does not match the Fly OpenAPI description: ${problems.join("; ")}`))
            })
            : Effect.void)
      }))
    return Context.make(HttpClient.HttpClient, client).pipe(Context.add(CheckedRequests, log))
  })).pipe(Layer.provide(FetchHttpClient.layer))

// ---- The server and the adapter ----

export class LocalFly extends Context.Service<LocalFly, Server>()("test/LocalFly") {}

export const serverLayer = (options: ServerOptions = {}): Layer.Layer<LocalFly> =>
  Layer.effect(LocalFly, start({ command: fakeMachineCommand(), ...options }))

/** Fast retries for tests; `Retry-After` still rules when Fly sends it. */
export const fastRetry = { attempts: 5, baseDelayMs: 20, maxDelayMs: 200, budgetMs: 10_000 }

export const IMAGE = "registry.fly.io/porter-runner:0.1.0-test"

/** The Fly provisioner against the local server, requests checked against the description. */
export const flyLayer = (
  options: Partial<FlyMachines.FlyOptions> = {}
): Layer.Layer<
  FlyMachines.FlyMachines | MachineProvisioner.MachineProvisioner | CheckedRequests | HttpClient.HttpClient,
  never,
  LocalFly
> =>
  Layer.unwrap(Effect.map(LocalFly, (server) =>
    FlyMachines.layer({
      app: server.app,
      apiUrl: server.url,
      token: Redacted.make(server.token),
      image: IMAGE,
      retry: fastRetry,
      ...options
    }).pipe(Layer.provideMerge(checkingHttpClient(() => server.url)))))

/** Server and adapter together. */
export const localFly = (options: Partial<FlyMachines.FlyOptions> = {}, server: ServerOptions = {}) =>
  flyLayer(options).pipe(Layer.provideMerge(serverLayer(server)))

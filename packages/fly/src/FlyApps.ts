/**
 * The one optional setup step: make sure the Fly app that Porter's machines live in exists. Explicit on purpose —
 * the provisioner never creates apps by itself, since that needs an org-scoped token and names a billing org.
 * Run it once from a setup command (`porter doctor`, a deploy script), not per task.
 */
import { Errors } from "@porter/core"
import { Effect, Option, type Redacted } from "effect"
import { type HttpClient, HttpClientRequest, HttpClientResponse } from "effect/http"
import * as FlyApi from "./FlyApi.ts"
import * as FlyHttp from "./FlyHttp.ts"
import { toProvisionError } from "./FlyMachines.ts"

/** The app to make sure of: its name and the organization it is created in. */
export interface EnsureAppOptions {
  readonly app: string
  /** The org slug (or `personal`) the app is created in. */
  readonly org: string
  /** An org-scoped token (a deploy token of another app cannot create apps). */
  readonly token: Redacted.Redacted<string>
  readonly apiUrl?: string | undefined
  /** The app's private network; Fly's default when unset. */
  readonly network?: string | undefined
  readonly retry?: Partial<FlyHttp.RetryPolicy> | undefined
}

const encodeApp = HttpClientRequest.schemaBodyJson(FlyApi.CreateAppRequest)

/** `"exists"` when the app was already there, `"created"` when this call made it. */
export const ensureApp = Effect.fn("FlyApps.ensureApp")(function*(
  options: EnsureAppOptions
): Effect.fn.Return<"exists" | "created", Errors.ProvisionError, HttpClient.HttpClient> {
  const http = yield* FlyHttp.make({
    apiUrl: options.apiUrl ?? FlyApi.DEFAULT_API_URL,
    retry: { ...FlyHttp.defaultRetryPolicy, ...options.retry },
    requestTimeoutMs: 30_000
  })
  const context = { app: options.app, apiUrl: http.apiUrl }
  const appPath = `/apps/${encodeURIComponent(options.app)}`
  const exists = yield* http.call({
    op: "get app",
    token: options.token,
    request: HttpClientRequest.get(appPath),
    decode: (response) => Effect.as(HttpClientResponse.schemaBodyJson(FlyApi.App)(response), true),
    onStatus: (status) => (status === 404 ? Option.some(false) : Option.none())
  }).pipe(Effect.mapError((error) => toProvisionError(error, context)))
  if (exists) return "exists" as const
  const body: FlyApi.CreateAppRequest = {
    name: options.app,
    org_slug: options.org,
    ...(options.network !== undefined ? { network: options.network } : {})
  }
  const request = yield* encodeApp(HttpClientRequest.post("/apps"), body).pipe(Effect.orDie)
  yield* http.call({
    op: "create app",
    token: options.token,
    request,
    decode: () => Effect.void,
    // A create whose answer was lost may have worked: check before repeating it.
    recover: http.attempt({
      op: "get app",
      token: options.token,
      request: HttpClientRequest.get(appPath),
      decode: () => Effect.succeed(Option.some(undefined)),
      onStatus: (status) => (status === 404 ? Option.some(Option.none()) : Option.none())
    })
  }).pipe(
    Effect.mapError((error) =>
      error.kind === "status" && (error.status === 400 || error.status === 404 || error.status === 422)
        ? new Errors.ProvisionError({
          reason: "bad_config",
          status: error.status,
          message: `Fly refused to create the app \`${options.app}\` in the org \`${options.org}\` (${error.status}${
            error.flyError ? `: ${error.flyError}` : ""
          }); check the app name and the org slug.`,
          cause: error
        })
        : toProvisionError(error, context)
    )
  )
  yield* Effect.logInfo("Fly app created", { app: options.app, org: options.org })
  return "created" as const
})

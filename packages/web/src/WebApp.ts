/**
 * `@porter/web`: Porter's web app as routes on effect's `HttpRouter`, for any host that serves Porter's HTTP app (the
 * Worker, a Node bot): `/login`, `/login/github`, `/oauth/callback`, `/logout`, and everything under `/app` — the task
 * list and pages, my keys, installations, repository settings, the operator page, and two static assets.
 *
 * `layer` needs the web configuration (`WebConfig`), a `SessionStore` (`SessionStore.layerMemory`,
 * `SqlSessionStore.layer`), a `TokenStore` for personal tokens (`TokenStore.layerMemory`, `SqlTokenStore.layer`), an
 * `HttpClient` (GitHub) and Porter's services (the same the HTTP API uses: `TaskStore`,
 * `TaskLifecycle`, `Dispatcher`, `SecretStore`, `Settings`, `Diagnostics`, `AgentCatalog`, `MachineAccess`).
 * `layerConfig(store)` reads the configuration from variables and, when the web app is not configured (or wrongly),
 * serves a page saying what to set instead, so the rest of Porter runs either way.
 */
import {
  type AgentCatalog,
  type ArtifactStore,
  type Diagnostics,
  type Dispatcher,
  type MachineAccess,
  PorterConfig,
  type SecretStore,
  type Settings,
  type TaskLifecycle,
  type TaskStore
} from "@porter/core"
import { Config, Effect, Layer } from "effect"
import { type HttpClient, HttpRouter, HttpServerResponse } from "effect/http"
import * as Access from "./Access.ts"
import * as Assets from "./Assets.ts"
import * as GitHubAccounts from "./GitHubAccounts.ts"
import * as SignInPage from "./pages/SignInPage.ts"
import * as PersonalTokens from "./PersonalTokens.ts"
import * as AccountRoutes from "./routes/AccountRoutes.ts"
import * as AuthRoutes from "./routes/AuthRoutes.ts"
import * as TaskRoutes from "./routes/TaskRoutes.ts"
import * as TokenRoutes from "./routes/TokenRoutes.ts"
import * as SessionKeys from "./SessionKeys.ts"
import * as Sessions from "./Sessions.ts"
import type { SessionStore } from "./SessionStore.ts"
import * as TokenStore from "./TokenStore.ts"
import * as WebConfig from "./WebConfig.ts"
import * as WebHttp from "./WebHttp.ts"

/** Porter's services the web app uses. */
export type PorterServices =
  | TaskStore.TaskStore
  | TaskLifecycle.TaskLifecycle
  | Dispatcher.Dispatcher
  | SecretStore.SecretStore
  | Settings.Settings
  | Diagnostics.Diagnostics
  | AgentCatalog.AgentCatalog
  | MachineAccess.MachineAccess
  | ArtifactStore.ArtifactStore

const ASSET_HEADERS = { "cache-control": "public, max-age=86400, immutable", "x-content-type-options": "nosniff" }

const assets: ReadonlyArray<HttpRouter.Route<never, never>> = [
  HttpRouter.route(
    "GET",
    `/app/assets/app-${Assets.VERSION}.css`,
    HttpServerResponse.text(Assets.CSS, { contentType: "text/css; charset=utf-8", headers: ASSET_HEADERS })
  ),
  HttpRouter.route(
    "GET",
    `/app/assets/live-${Assets.VERSION}.js`,
    HttpServerResponse.text(Assets.LIVE_JS, {
      contentType: "text/javascript; charset=utf-8",
      headers: ASSET_HEADERS
    })
  )
]

/** The style sheet and the live-updates script (their names carry `Assets.VERSION`). */
export const assetRoutes: Layer.Layer<never, never, HttpRouter.HttpRouter> = HttpRouter.addAll(assets)

const pages = Layer.unwrap(
  Effect.map(
    WebHttp.make,
    (guard) =>
      Layer.mergeAll(
        AuthRoutes.routes(guard),
        TaskRoutes.routes(guard),
        AccountRoutes.routes(guard),
        TokenRoutes.routes(guard)
      )
  )
)

/** The web app's own services, over its configuration, a session store and an HTTP client. */
export const servicesLayer = Layer.mergeAll(Sessions.layer, Access.layer, PersonalTokens.layer).pipe(
  Layer.provideMerge(Layer.mergeAll(SessionKeys.layer, GitHubAccounts.layer))
)

/** The web app's routes. */
export const layer: Layer.Layer<
  never,
  never,
  | HttpRouter.HttpRouter
  | WebConfig.WebConfig
  | SessionStore
  | TokenStore.TokenStore
  | HttpClient.HttpClient
  | PorterServices
> = Layer.merge(pages, assetRoutes).pipe(Layer.provide(servicesLayer))

/** Routes that say the web app is off, and why (the rest of Porter is unaffected). */
export const offLayer = (problem: string): Layer.Layer<never, never, HttpRouter.HttpRouter> => {
  const answer = HttpServerResponse.text(SignInPage.off(problem), {
    status: 404,
    contentType: "text/html; charset=utf-8",
    headers: { "cache-control": "no-store" }
  })
  // `…/*` also serves `…` itself (`/app`, `/login`).
  const routes: Array<HttpRouter.Route<never, never>> = ["/app/*", "/login/*", "/oauth/callback"]
    .map((path) => HttpRouter.route("GET", path as HttpRouter.PathInput, answer))
  routes.push(HttpRouter.route("POST", "/logout", answer))
  return HttpRouter.addAll(routes)
}

/**
 * The web app from variables (`WebConfig.optionsConfig`; Porter's public URL from `PorterConfig` unless
 * `PORTER_PUBLIC_URL` says otherwise), with `store` for sessions and `tokens` for personal tokens (default: in
 * memory): when `GITHUB_OAUTH_CLIENT_ID` is not set, or the configuration cannot work, `offLayer` with the reason
 * (names of variables, never values).
 */
export const layerConfig = <R, RT = never>(
  store: Layer.Layer<SessionStore, never, R>,
  tokens: Layer.Layer<TokenStore.TokenStore, never, RT> = TokenStore.layerMemory as Layer.Layer<
    TokenStore.TokenStore,
    never,
    RT
  >
): Layer.Layer<
  never,
  never,
  HttpRouter.HttpRouter | HttpClient.HttpClient | PorterServices | PorterConfig.PorterConfig | R | RT
> =>
  Layer.unwrap(Effect.gen(function*() {
    const enabled = yield* Effect.orElseSucceed(WebConfig.enabledConfig, () => false)
    if (!enabled) return offLayer("GITHUB_OAUTH_CLIENT_ID is not set.")
    const porter = yield* PorterConfig.PorterConfig
    const options = yield* Effect.result(Effect.flatMap(WebConfig.optionsConfig, (read) =>
      WebConfig.make({ ...read, publicUrl: read.publicUrl === "" ? porter.publicUrl : read.publicUrl })))
    if (options._tag === "Failure") {
      const error = options.failure
      const problem = error._tag === "WebConfigError"
        ? error.message
        : `the web app's configuration is incomplete (${describeConfigError(error)})`
      yield* Effect.logWarning(`web app off: ${problem}`)
      return offLayer(problem)
    }
    return layer.pipe(
      Layer.provide(Layer.succeed(WebConfig.WebConfig, options.success)),
      Layer.provide(Layer.merge(store, tokens))
    )
  }))

/** The variable a `ConfigError` is about (its message's path), never a value. */
const describeConfigError = (error: Config.ConfigError): string => {
  const name = /\["([A-Z0-9_]+)"\]/.exec(error.message)?.[1]
  return name !== undefined ? `${name} is missing or invalid` : "a variable is missing or invalid"
}

/**
 * The App Worker, assembled from its `env` like the API Worker (`WorkerApp.ts`) and over the same D1: the web app
 * (`@porter/web`: `/app/…`, `/login`, `/logout`, `/oauth/callback`; sessions and personal tokens on D1; off, with a
 * page saying what to set, without `GITHUB_OAUTH_CLIENT_ID`) and the MCP server (`@porter/mcp`: `/mcp`, with the web
 * app's personal tokens; off with it) and `GET /openapi.json`. The API Worker hands it those paths through a service
 * binding (`APP`).
 *
 * Its own Worker because of size: what answers webhooks, callbacks and model calls starts and stays small, and the
 * pages and the MCP server grow without weighing on it. It runs no Cron Trigger (the API Worker sweeps).
 *
 * Platform-free (no `cloudflare:workers` import): `app.ts` is its entry point.
 */
import { HttpApp } from "@porter/core"
import { McpApp } from "@porter/mcp"
import { SqlSessionStore, SqlTokenStore, WebApp } from "@porter/web"
import { Effect, Layer } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import * as WorkerApp from "./WorkerApp.ts"

let document: unknown
/** `GET /openapi.json`: the API's document, generated once per isolate (the API Worker leaves the generator out). */
export const openApiRoute: Layer.Layer<never, never, HttpRouter.HttpRouter> = HttpRouter.add(
  "GET",
  "/openapi.json",
  Effect.sync(() => HttpServerResponse.jsonUnsafe(document ??= HttpApp.openApi()))
)

/** The App Worker's routes: the web app and the MCP server, over D1's sessions and personal tokens. */
export const routesLayer: WorkerApp.Routes = Layer.mergeAll(
  WebApp.layerConfig(SqlSessionStore.layer, SqlTokenStore.layer),
  McpApp.layerConfig(SqlTokenStore.layer),
  openApiRoute
)

/** Builds the App Worker from `env`: call once per isolate. */
export const make = (env: WorkerApp.WorkerEnv, options: WorkerApp.Options = {}): WorkerApp.Handlers =>
  WorkerApp.make(env, { ...options, routes: routesLayer, app: "self" })

/**
 * `@porter/mcp`: Porter as MCP tools, at `/mcp` in Porter's HTTP app (the Worker, a Node host), on effect's
 * `effect/ai` `McpServer` over the Streamable HTTP transport (`McpServer.layerHttp`).
 *
 * - Protocols: 2026-07-28 (sessionless: any isolate answers any request) and the session-based 2025-11-25, 2025-06-18
 *   and 2025-03-26 (what today's clients, the official TypeScript SDK among them, speak). Sessions live in the memory
 *   of the process or isolate that began them: a request that reaches another Worker isolate is answered 404, and the
 *   client begins a new session (MCP's rule for an unknown session).
 * - Authentication: a personal Porter token (`/app/tokens`, `@porter/web`'s `PersonalTokens`) as
 *   `Authorization: Bearer porter_pat_…`, checked on every request (`Caller.authentication`); authorization on every
 *   call from the user's own GitHub permissions (`Access`, the web app's rules).
 * - Tools (`Tools.ts`, `Handlers.ts`) and task logs as resources (`LogResource.ts`).
 *
 * `layer` needs the web configuration, a `TokenStore`, an `HttpClient` and Porter's services. `layerConfig(tokens)`
 * reads the web app's configuration from variables: without it (no `GITHUB_OAUTH_CLIENT_ID`, nobody can make a token)
 * `/mcp` answers 404 saying so, and the rest of Porter runs either way.
 *
 * Cannot: MCP's OAuth authorization flow (clients send a personal token), server-to-client requests across Worker
 * isolates, subscriptions to task changes (clients poll `get_task`).
 */
import {
  type AgentCatalog,
  type ArtifactStore,
  type CommandParser,
  type Dispatcher,
  PorterConfig,
  type Settings,
  type TaskLifecycle,
  type TaskStore
} from "@porter/core"
import { Access, GitHubAccounts, PersonalTokens, SessionKeys, type TokenStore, WebConfig } from "@porter/web"
import { Effect, Layer } from "effect"
import { McpProtocol, McpServer } from "effect/ai"
import { type HttpClient, HttpRouter, HttpServerResponse } from "effect/http"
import { authentication } from "./Caller.ts"
import * as Handlers from "./Handlers.ts"
import * as LogResource from "./LogResource.ts"
import { PorterTools } from "./Tools.ts"

/** Where the MCP server listens. */
export const PATH = "/mcp"

/** Porter's services the tools use. */
export type PorterServices =
  | TaskStore.TaskStore
  | TaskLifecycle.TaskLifecycle
  | Dispatcher.Dispatcher
  | Settings.Settings
  | AgentCatalog.AgentCatalog
  | CommandParser.CommandParser
  | ArtifactStore.ArtifactStore

/** The MCP server's options (those of its tool handlers). */
export interface Options extends Handlers.HandlerOptions {}

const INSTRUCTIONS = "Porter runs coding agents on GitHub issues: each task is one run of an agent on one issue or " +
  "pull request, reported on the issue and ending in a pull request. Use list_tasks and get_task to see tasks, " +
  "start_task to ask for one (it posts the command on the issue as you), get_transcript for what a run said, " +
  "cancel_task and retry_task to steer, continue_task to go on from where an ended task stopped. Tasks take minutes: poll get_task until the state is succeeded, failed, " +
  "timed_out or cancelled."

/** The web app's services the MCP server shares (token checks, GitHub permissions). */
const webServices = Layer.mergeAll(PersonalTokens.layer, Access.layer).pipe(
  Layer.provideMerge(Layer.mergeAll(SessionKeys.layer, GitHubAccounts.layer))
)

/** The MCP server's routes (`/mcp`). */
export const layer = (options: Options = {}) =>
  Layer.unwrap(Effect.gen(function*() {
    const config = yield* WebConfig.WebConfig
    const registrations = Layer.mergeAll(McpServer.toolkit(PorterTools), LogResource.layer).pipe(
      Layer.provide(Handlers.layer(options))
    )
    return McpServer.layerHttp({
      name: "porter",
      version: "0.1.0",
      description: "Porter: coding agents on GitHub issues",
      instructions: INSTRUCTIONS,
      path: PATH,
      protocols: [McpProtocol.v2026_07_28, McpProtocol.v2025_11_25, McpProtocol.v2025_06_18, McpProtocol.v2025_03_26],
      allowedOrigins: [new URL(config.publicUrl).origin],
      allowSessionTermination: true,
      // Porter's tools and resources never change while it runs: no stream of list changes to hold open per client.
      allowSubscriptions: false,
      registrations
    }).pipe(
      Layer.provide(authentication(`${config.publicUrl}/app/tokens`).layer),
      // Only a protocol list this module gets wrong fails the build.
      Layer.orDie
    )
  })).pipe(Layer.provide(webServices))

/** `/mcp` when the server cannot run: 404 with the reason (names of variables, never values). */
export const offLayer = (problem: string): Layer.Layer<never, never, HttpRouter.HttpRouter> =>
  HttpRouter.add(
    "*",
    PATH,
    HttpServerResponse.jsonUnsafe({
      jsonrpc: "2.0",
      id: null,
      error: { code: -32601, message: `Porter's MCP server is off: ${problem}` }
    }, { status: 404 })
  )

/**
 * The MCP server from variables (the web app's: `GITHUB_OAUTH_CLIENT_ID`, `PORTER_SESSION_SECRET`, …; Porter's public
 * URL unless `PORTER_PUBLIC_URL` says otherwise), with `tokens` for personal tokens — the same store the web app's
 * tokens page writes.
 */
export const layerConfig = <R>(
  tokens: Layer.Layer<TokenStore.TokenStore, never, R>,
  options: Options = {}
): Layer.Layer<
  never,
  never,
  HttpRouter.HttpRouter | HttpClient.HttpClient | PorterServices | PorterConfig.PorterConfig | R
> =>
  Layer.unwrap(Effect.gen(function*() {
    const enabled = yield* Effect.orElseSucceed(WebConfig.enabledConfig, () => false)
    if (!enabled) return offLayer("it needs the web app, where people make their tokens (set GITHUB_OAUTH_CLIENT_ID).")
    const porter = yield* PorterConfig.PorterConfig
    const web = yield* Effect.result(Effect.flatMap(WebConfig.optionsConfig, (read) =>
      WebConfig.make({ ...read, publicUrl: read.publicUrl === "" ? porter.publicUrl : read.publicUrl })))
    if (web._tag === "Failure") {
      return offLayer("the web app's configuration is incomplete (see /app).")
    }
    return layer(options).pipe(
      Layer.provide(Layer.succeed(WebConfig.WebConfig, web.success)),
      Layer.provide(tokens)
    )
  }))

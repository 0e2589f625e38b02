/**
 * A Node bot that embeds Porter: one HTTP server of its own (`@effect/platform-node`'s `NodeHttpServer`) serving
 * Porter's HTTP API (`HttpApp.routes`: webhooks, callbacks, task status, health, the admin API, `/openapi.json`)
 * and one route of the bot's (`GET /`, a short status page), over:
 *
 * - GitHub (`@porter/github`): signed webhooks, the App or a personal token, comments, reactions, permissions;
 * - machines from a provisioner chosen by option: child processes on this host running the Porter runner
 *   (`@porter/local`, the default) or Docker containers (`@porter/docker`);
 * - durable stores (`Storage`): SQLite in a data directory by default, PostgreSQL with `DATABASE_URL` (several bots
 *   may share it), or memory;
 * - core's `Porter` programs, webhooks answered at once with the work in background fibers (`Background.layerFork`),
 *   and a timer driving the watchdog's sweep (`Watchdog.layerTimer`).
 *
 * Its options and the environment variables behind them are in `BotOptions` (re-exported here).
 *
 * What it cannot do: move a task's local machine to another host (see `Storage`); keep anything across a restart with
 * `storage: { _tag: "memory" }`.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import {
  AgentCatalog,
  type Authorizer,
  Background,
  CommandParser,
  Diagnostics,
  type Errors,
  GatewayApp,
  HttpApp,
  type IssueReader,
  MachineProvisioner,
  Porter,
  PorterConfig,
  PromptBuilder,
  type Reporter,
  type RepoTokens,
  type SecretStore,
  type Settings,
  TaskStore,
  TaskTokens,
  Watchdog,
  type WebhookIntake
} from "@porter/core"
import { type DockerEngine, DockerProvisioner } from "@porter/docker"
import { type AppJwt, GitHub, GitHubClient } from "@porter/github"
import { LocalProvisioner } from "@porter/local"
import { McpApp } from "@porter/mcp"
import { SessionStore, TokenStore, WebApp } from "@porter/web"
import { Clock, type Config, Context, Effect, Layer, Option } from "effect"
import { FetchHttpClient, HttpRouter, HttpServer, type HttpServerError, HttpServerResponse } from "effect/http"
import { NetAddress } from "effect/net"
import { Readable } from "node:stream"
import { type BotOptions, config, type HostOptions, type Machines } from "./BotOptions.ts"
import * as GatewayRoute from "./GatewayRoute.ts"
import * as Storage from "./Storage.ts"
import * as WebhookRoute from "./WebhookRoute.ts"

export { agentSecretNames, type BotOptions, config, type HostOptions, type Machines } from "./BotOptions.ts"

/** The running bot: where it listens and where GitHub and machines reach it. */
export class Bot extends Context.Service<Bot, {
  /** Where the server listens, e.g. `http://127.0.0.1:3000` (the real port when port 0 was asked for). */
  readonly url: string
  /** Where GitHub and the machines reach the bot: `publicUrl` if given, else `url`. */
  readonly publicUrl: string
  /** The URL to set as the GitHub App's webhook URL. */
  readonly webhookUrl: string
  /** Which machines the bot starts: `local`, `docker`, `memory`. */
  readonly machines: string
  readonly startedAt: number
}>()("@porter-examples/embed-node-bot/Bot") {}

/** What the bot needs from the outside world besides its stores: GitHub's side and the machines. */
export type Edges =
  | WebhookIntake.WebhookIntake
  | Reporter.Reporter
  | IssueReader.IssueReader
  | Authorizer.Authorizer
  | RepoTokens.RepoTokens
  | MachineProvisioner.MachineProvisioner

/** What the bot's layer provides, for code that runs next to it (your own routes, jobs, tests). */
export type Services =
  | Bot
  | Porter.Porter
  | Watchdog.Watchdog
  | TaskStore.TaskStore
  | SecretStore.SecretStore
  | Settings.Settings
  | MachineProvisioner.MachineProvisioner
  | PorterConfig.PorterConfig
  | HttpServer.HttpServer

const json = (status: number, body: unknown) => HttpServerResponse.jsonUnsafe(body, { status })

/** The URL of a bound address; an unspecified address (`0.0.0.0`, `::`) is reached through loopback. */
export const urlOf = (address: NetAddress.SocketAddress): string => {
  if (NetAddress.isInetAddress(address) && NetAddress.isUnspecified(address.address)) {
    return `http://127.0.0.1:${address.port}`
  }
  return HttpServer.formatAddress(address)
}

/** Where git lives for a REST API root: github.com for api.github.com, the host for GHES `/api/v3`, else the root. */
export const gitUrlFor = (apiUrl: string): string => {
  const trimmed = apiUrl.replace(/\/+$/, "")
  if (trimmed === GitHubClient.DEFAULT_API_URL) return "https://github.com"
  return trimmed.replace(/\/api\/v3$/, "")
}

/**
 * `GET /`: the bot's own page — who it is, where to point GitHub, how busy it is. The recent tasks (repository
 * names, pull request links) are shown only to the admin token's holder: the page is public.
 */
export const statusRoute = HttpRouter.use(
  Effect.fn("Bot.statusRoute")(function*(router) {
    const bot = yield* Bot
    const config = yield* PorterConfig.PorterConfig
    const store = yield* TaskStore.TaskStore
    const provisioner = yield* MachineProvisioner.MachineProvisioner
    yield* router.add("GET", "/", (request) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const activeTasks = yield* store.countActive({})
        const machines = yield* Effect.option(provisioner.list())
        const recent = HttpApp.isAdminRequest(request, config.adminToken) ? yield* store.list({ limit: 10 }) : undefined
        return json(200, {
          bot: "embed-node-bot",
          uptimeSeconds: Math.floor((now - bot.startedAt) / 1000),
          webhookUrl: bot.webhookUrl,
          machines: bot.machines,
          liveMachines: Option.getOrNull(Option.map(machines, (list) => list.length)),
          activeTasks,
          ...(recent === undefined ? {} : {
            recentTasks: recent.map((task) => ({
              id: task.id,
              state: task.state,
              issue: `${task.repo.fullName}#${task.issueNumber}`,
              agent: task.agent,
              ...(task.prUrl !== undefined ? { prUrl: task.prUrl } : {})
            }))
          })
        })
      }).pipe(Effect.catchTag("StoreError", () => Effect.succeed(json(503, { error: "storage unavailable" })))))
  })
)

/** Porter's routes (webhooks, callbacks, task status, the admin API, `/openapi.json`). */
export const porterRoutes = HttpApp.routes

/**
 * Porter's web app (`@porter/web`: `/app`, sign-in with GitHub) and MCP server (`@porter/mcp`: `/mcp`, with the personal
 * tokens people make on `/app/tokens`), on when `GITHUB_OAUTH_CLIENT_ID`, `GITHUB_OAUTH_CLIENT_SECRET` and
 * `PORTER_SESSION_SECRET` are set. Sessions and tokens live in this process (one store, shared by both): a restart
 * signs everyone out and ends every token.
 */
export const webRoutes = Layer.mergeAll(
  WebApp.layerConfig(SessionStore.layerMemory, TokenStore.layerMemory),
  McpApp.layerConfig(TokenStore.layerMemory)
)

/** SQLite in `./.porter-data`: what the bot keeps its state in unless told otherwise. */
export const defaultStorage: Storage.Choice = { _tag: "sqlite" }

/**
 * Porter on a Node HTTP server, over the given edges (`Edges`: GitHub's side and the machines; whatever else they
 * provide is provided too) and the stores of `options.storage`. The bot (`layer`) and the benchmark intake
 * (`Intake.layer`) are this with different edges.
 */
export const host = <A, E, R>(
  machines: string,
  edges: Layer.Layer<A, E, R>,
  options: HostOptions = {}
) => {
  // Webhooks and model calls take direct routes from `node:http` (`WebhookRoute`, `GatewayRoute`); everything else
  // goes through the router.
  const slot = WebhookRoute.makeSlot()
  const gatewaySlot = WebhookRoute.makeSlot()
  const Server = NodeHttpServer.layer(WebhookRoute.makeServer(slot, gatewaySlot), {
    port: options.port ?? 3000,
    host: options.host ?? "127.0.0.1"
  })

  const Info = Layer.effect(
    Bot,
    Effect.gen(function*() {
      const server = yield* HttpServer.HttpServer
      const url = urlOf(server.address)
      const publicUrl = (options.publicUrl ?? url).replace(/\/+$/, "")
      if (machines === "docker" && /^https?:\/\/(127\.|localhost|\[::1\])/.test(publicUrl)) {
        yield* Effect.logWarning(
          `Docker machines cannot call back ${publicUrl}: listen on 0.0.0.0 (HOST) and set the public URL ` +
            `(PORTER_PUBLIC_URL), e.g. http://host.docker.internal:${new URL(url).port} on one machine`
        )
      }
      return Bot.of({
        url,
        publicUrl,
        webhookUrl: `${publicUrl}/webhooks/github`,
        machines,
        startedAt: yield* Clock.currentTimeMillis
      })
    })
  )

  // The callback URL machines get is only known once the server is bound (port 0).
  const ConfigLive = Layer.effect(
    PorterConfig.PorterConfig,
    Effect.gen(function*() {
      const bot = yield* Bot
      return PorterConfig.make({
        ...options.porter,
        ...(options.adminToken !== undefined ? { adminToken: options.adminToken } : {}),
        publicUrl: bot.publicUrl
      })
    })
  )

  // The stores (migrated) and the callback-token key come first: the server listens once they are ready.
  const storage = options.storage ?? defaultStorage
  const Stores = Layer.merge(
    Storage.layer(storage, { secrets: options.secrets, settings: options.settings, keys: options.encryptionKeys }),
    Layer.unwrap(Effect.map(Storage.taskTokenSecret(storage, options.taskTokenSecret), TaskTokens.layer))
  )
  const Services = Layer.mergeAll(
    CommandParser.layer.pipe(Layer.provideMerge(AgentCatalog.layer)),
    PromptBuilder.layer,
    options.background ?? Background.layerFork,
    // The model gateway's answers as Node streams (no chunk through an Effect stream).
    Layer.succeed(GatewayApp.RawBody, (stream) => Readable.fromWeb(stream as never)),
    // Porter's git proxy (machines clone through Porter) reaches GitHub with it.
    FetchHttpClient.layer,
    ConfigLive,
    edges
  )
  const PorterLive = Layer.merge(Porter.layer, Diagnostics.layerBasic).pipe(Layer.provideMerge(Services))

  const Http = HttpRouter.serve(Layer.mergeAll(porterRoutes, statusRoute, webRoutes), {
    disableListenLog: true,
    disableLogger: options.logRequests === false
  })
  const Sweep = options.sweepIntervalMs === false ? Layer.empty : Watchdog.layerTimer(options.sweepIntervalMs ?? 60_000)

  const FastWebhooks = WebhookRoute.layer(slot, { logRequests: options.logRequests !== false })
  const FastGateway = GatewayRoute.layer(gatewaySlot, { logRequests: options.logRequests !== false })

  return Layer.mergeAll(Http, FastWebhooks, FastGateway, Sweep).pipe(
    Layer.provideMerge(PorterLive),
    Layer.provideMerge(Info),
    Layer.provideMerge(Server),
    Layer.provideMerge(Stores)
  )
}

/** Why the bot did not start. */
export type StartError =
  | HttpServerError.ServeError
  | Config.ConfigError
  | Storage.StorageError
  | AppJwt.InvalidPrivateKey
  | Errors.ProvisionError
  | DockerEngine.InvalidDockerHost

/**
 * With durable storage, local machines are recorded in the data directory and left running when the bot stops: the
 * next start adopts them, and their tasks carry on.
 */
const machinesLayer = (
  choice: Machines,
  storage: Storage.Choice
): Layer.Layer<MachineProvisioner.MachineProvisioner, Errors.ProvisionError | DockerEngine.InvalidDockerHost> => {
  if (choice._tag === "docker") return DockerProvisioner.layer(choice.options)
  const stateDir = choice.options?.stateDir ?? Storage.machinesDirOf(storage)
  return LocalProvisioner.layer({
    ...choice.options,
    ...(stateDir !== undefined
      ? { stateDir, keepRunningOnShutdown: choice.options?.keepRunningOnShutdown ?? true }
      : {})
  })
}

/**
 * The bot: listening once built, stopped (server closed, background work interrupted, machines stopped) when the
 * layer's scope closes.
 */
export const layer = (options: BotOptions): Layer.Layer<Services, StartError> => {
  const apiUrl = (options.github.apiUrl ?? GitHubClient.DEFAULT_API_URL).replace(/\/+$/, "")
  const machines = options.machines ?? { _tag: "local" }
  const edges = Layer.mergeAll(GitHub.layer(options.github), machinesLayer(machines, options.storage ?? defaultStorage))
  return host(machines._tag, edges, {
    ...options,
    porter: {
      ...options.porter,
      githubApiUrl: apiUrl,
      gitBaseUrl: options.gitUrl ?? gitUrlFor(apiUrl)
    }
  })
}

/** The bot from configuration (see `config`). */
export const layerConfig: Layer.Layer<Services, StartError> = Layer.unwrap(Effect.map(config, layer))

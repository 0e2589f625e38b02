/**
 * The bot's options: where its machines run (`Machines`), what every variant of the host shares (`HostOptions`), the
 * bot's own (`BotOptions`), and `config`, which reads them from environment variables. Apart from `Bot` so the list
 * of knobs and the variables behind them read in one place, away from the assembly.
 */
import { AgentCatalog, type Background, PorterConfig, type Settings } from "@porter/core"
import { DockerProvisioner } from "@porter/docker"
import { type GitHub, GitHubAuth, GitHubAuthorizer, GitHubClient, GitHubWebhooks } from "@porter/github"
import { LocalProvisioner } from "@porter/local"
import type { EncryptionKeys } from "@porter/sql"
import { Config, type Layer, Option, type Redacted, Schema } from "effect"
import * as Storage from "./Storage.ts"

/** Where the machines of tasks run. */
export type Machines =
  | { readonly _tag: "local"; readonly options?: LocalProvisioner.LocalOptions }
  | { readonly _tag: "docker"; readonly options?: DockerProvisioner.DockerOptions }

/** The server, the stores and Porter's knobs: what every variant of the bot shares. */
export interface HostOptions {
  /** Default 3000; 0 takes any free port (read the real one from `Bot.url`). */
  readonly port?: number | undefined
  /** The interface to listen on; default `127.0.0.1`. `0.0.0.0` to be reachable from elsewhere. */
  readonly host?: string | undefined
  /** Where GitHub and the machines reach the bot (a tunnel, a proxy, `host.docker.internal`); default the bound URL. */
  readonly publicUrl?: string | undefined
  /** Bearer token of the admin API (`/admin/…`) and of any task's status; without it the admin API is off. */
  readonly adminToken?: Redacted.Redacted<string> | undefined
  /** Porter's deployment settings (`publicUrl` comes from above). */
  readonly porter?: Partial<Omit<PorterConfig.PorterOptions, "publicUrl">> | undefined
  /**
   * Where tasks, deliveries, secrets and settings live (`Storage`): default SQLite in `./.porter-data`;
   * `{ _tag: "postgres", url }` for several bots on one database; `{ _tag: "memory" }` for nothing durable.
   */
  readonly storage?: Storage.Choice | undefined
  /**
   * The secret store's keys; default `PORTER_ENCRYPTION_KEY` (…) from configuration, else with SQLite a key kept in
   * the data directory (required with PostgreSQL).
   */
  readonly encryptionKeys?: EncryptionKeys.EncryptionKeysOptions | undefined
  /** The HMAC secret of the machines' callback tokens; default `Storage.taskTokenSecret`'s. */
  readonly taskTokenSecret?: Redacted.Redacted<string> | undefined
  /** Global secrets (agent API keys such as `ANTHROPIC_API_KEY`) put in the secret store at start. */
  readonly secrets?: Readonly<Record<string, Redacted.Redacted<string>>> | undefined
  /** Per-repository defaults (mention name, default agent, limits…); stored overrides come from the admin API. */
  readonly settings?: Settings.RepoSettings | undefined
  /** How often the watchdog sweeps; default 60 s. `false`: never (drive `Watchdog` yourself). */
  readonly sweepIntervalMs?: number | false | undefined
  /** Log every HTTP request (default true). */
  readonly logRequests?: boolean | undefined
  /** Where webhook processing runs; default `Background.layerFork` (answer at once, work in fibers). */
  readonly background?: Layer.Layer<Background.Background> | undefined
}

export interface BotOptions extends HostOptions {
  /** GitHub: API URL, App or token credentials, webhook secret, allow and deny lists. */
  readonly github: GitHub.Options
  /** Where machines clone from; default derived from `github.apiUrl` (github.com for api.github.com). */
  readonly gitUrl?: string | undefined
  /** Default `{ _tag: "local" }`: child processes running the Porter runner. */
  readonly machines?: Machines | undefined
}

/** Agent keys Porter may pass to machines (`ANTHROPIC_API_KEY`, `OPENAI_API_KEY`, base-URL overrides, …). */
export const agentSecretNames: ReadonlyArray<string> = [
  ...new Set(AgentCatalog.builtInAgents.flatMap((agent) => agent.secrets.flatMap((secret) => secret.names)))
]

/** A TCP port; 0 asks for any free one. */
const Port = Schema.NumberFromString.pipe(
  Schema.check(Schema.isInt(), Schema.isBetween({ minimum: 0, maximum: 65535 }, { expected: "a port, 0 to 65535" }))
)

const optional = <A>(config: Config.Config<A>) => Config.map(Config.option(config), Option.getOrUndefined)

const machinesConfig: Config.Config<Machines> = Config.Literals(["local", "docker"], "PORTER_MACHINES").pipe(
  Config.withDefault("local" as const),
  Config.flatMap((kind): Config.Config<Machines> =>
    kind === "docker"
      ? Config.map(DockerProvisioner.config, (options) => ({ _tag: "docker", options }))
      : Config.map(LocalProvisioner.config, (options) => ({ _tag: "local", options }))
  )
)

/** Agent keys present in the environment, as global secrets. */
const agentSecretsConfig: Config.Config<Record<string, Redacted.Redacted<string>>> = Config.map(
  Config.all(
    agentSecretNames.map((name) => Config.map(Config.option(Config.Redacted(name)), (value) => [name, value] as const))
  ),
  (entries) => Object.fromEntries(entries.flatMap(([name, value]) => Option.isSome(value) ? [[name, value.value]] : []))
)

/**
 * The bot's options from configuration (environment variables with Node's default provider):
 *
 * - server: `PORT` (default 3000; 0 for any), `HOST` (default 127.0.0.1), `PORTER_PUBLIC_URL` (default the bound URL);
 * - GitHub: `GITHUB_WEBHOOK_SECRET` (required), `GITHUB_APP_ID` + `GITHUB_APP_PRIVATE_KEY` or `GITHUB_TOKEN`,
 *   `GITHUB_API_URL`, `GITHUB_GIT_URL`, `PORTER_ALLOWED_USERS`, `PORTER_DENIED_USERS`;
 * - machines: `PORTER_MACHINES` (`local`, default, or `docker`) and that provisioner's own variables
 *   (`PORTER_LOCAL_*`; `DOCKER_HOST`, `PORTER_MACHINE_IMAGE`, `PORTER_DOCKER_NETWORK`, `PORTER_DOCKER_INSTANCE`);
 * - storage (`Storage.config`): `DATABASE_URL` (PostgreSQL), else SQLite in `PORTER_DATA_DIR` (default `./.porter-data`);
 *   `PORTER_STORAGE=memory` for nothing durable; `PORTER_ENCRYPTION_KEY` (required with PostgreSQL);
 * - Porter: `PORTER_TASK_TOKEN_SECRET` (default kept in the data directory; required with PostgreSQL),
 *   `PORTER_ADMIN_TOKEN` (admin API; off without),
 *   `PORTER_SWEEP_INTERVAL_MS` (60000), `PORTER_HEARTBEAT_TIMEOUT_MS`, `PORTER_MACHINE_CPUS`,
 *   `PORTER_MACHINE_MEMORY_MB`; the model gateway's upstreams `PORTER_GATEWAY_ANTHROPIC_URL`, `…_OPENAI_URL`,
 *   `…_GEMINI_URL` (default the providers' own) and `PORTER_GATEWAY_CACHE_MS`;
 * - agent keys, each optional, stored as global secrets: every name the built-in agents read (`agentSecretNames`).
 */
export const config: Config.Config<BotOptions> = Config.all({
  port: Config.schema(Port, "PORT").pipe(Config.withDefault(3000)),
  host: Config.String("HOST").pipe(Config.withDefault("127.0.0.1")),
  publicUrl: optional(Config.String("PORTER_PUBLIC_URL")),
  apiUrl: Config.String("GITHUB_API_URL").pipe(Config.withDefault(GitHubClient.DEFAULT_API_URL)),
  gitUrl: optional(Config.String("GITHUB_GIT_URL")),
  credentials: GitHubAuth.credentialsConfig,
  webhookSecret: GitHubWebhooks.secretConfig,
  authorizer: GitHubAuthorizer.optionsConfig,
  machines: machinesConfig,
  taskTokenSecret: optional(Config.Redacted("PORTER_TASK_TOKEN_SECRET")),
  adminToken: optional(Config.Redacted("PORTER_ADMIN_TOKEN")),
  sweepIntervalMs: Config.Int("PORTER_SWEEP_INTERVAL_MS").pipe(Config.withDefault(60_000)),
  heartbeatTimeoutMs: Config.Int("PORTER_HEARTBEAT_TIMEOUT_MS").pipe(
    Config.withDefault(PorterConfig.defaults.heartbeatTimeoutMs)
  ),
  cpus: Config.Int("PORTER_MACHINE_CPUS").pipe(Config.withDefault(PorterConfig.defaults.guest.cpus)),
  memoryMb: Config.Int("PORTER_MACHINE_MEMORY_MB").pipe(Config.withDefault(PorterConfig.defaults.guest.memoryMb)),
  secrets: agentSecretsConfig,
  storage: Storage.config,
  gateway: PorterConfig.gatewayConfig
}).pipe(
  Config.map((c): BotOptions => ({
    port: c.port,
    host: c.host,
    publicUrl: c.publicUrl,
    github: { apiUrl: c.apiUrl, credentials: c.credentials, webhook: { secret: c.webhookSecret }, ...c.authorizer },
    gitUrl: c.gitUrl,
    machines: c.machines,
    taskTokenSecret: c.taskTokenSecret,
    adminToken: c.adminToken,
    secrets: c.secrets,
    storage: c.storage,
    sweepIntervalMs: c.sweepIntervalMs,
    porter: {
      heartbeatTimeoutMs: c.heartbeatTimeoutMs,
      guest: { ...PorterConfig.defaults.guest, cpus: c.cpus, memoryMb: c.memoryMb },
      gateway: c.gateway
    }
  }))
)

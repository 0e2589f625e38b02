/**
 * Porter on in-memory layers, in one `Layer`: the whole flow for tests, with the controls
 * (`Machines`, `GitHubRecorder`, `Repositories`) and the stores exposed. `options.replace` puts a real layer in place
 * of one (or more) in-memory service — a real provisioner, a SQL store — and Porter runs on it; the in-memory one is
 * still built, so its controls stay in context but see nothing. The git proxy's `HttpClient` is the global `fetch`
 * unless `options.httpClient` says otherwise.
 *
 * Agent keys: every built-in agent's first key is in the global secret scope (`AGENT_KEYS`, fake values), so
 * `@porter claude …` starts a task; `agentKeys` sets others (`{}`: none, to test the "missing key" answer).
 */
import type { ArtifactStore, IssueReader, MachineProvisioner, ModelUsage, Reporter, TaskStore } from "@porter/core"
import {
  AgentCatalog,
  Authorizer,
  Background,
  CommandParser,
  Diagnostics,
  Porter,
  PorterConfig,
  PromptBuilder,
  RepoTokens,
  SecretStore,
  Settings,
  TaskTokens,
  WebhookIntake
} from "@porter/core"
import type { RepoWriter } from "@porter/core/RepoWriter"
import { Layer, Redacted } from "effect"
import { FetchHttpClient, type HttpClient } from "effect/http"
import * as InMemoryArtifactStore from "./InMemoryArtifactStore.ts"
import * as InMemoryProvisioner from "./InMemoryProvisioner.ts"
import * as InMemoryRepoWriter from "./InMemoryRepoWriter.ts"
import * as InMemorySecretStore from "./InMemorySecretStore.ts"
import * as InMemoryTaskStore from "./InMemoryTaskStore.ts"
import * as InMemoryUsageStore from "./InMemoryUsageStore.ts"
import * as RecordingReporter from "./RecordingReporter.ts"

/** The task tokens' HMAC secret in `TestPorter` (tests may mint tokens with it). */
export const TASK_TOKEN_SECRET = Redacted.make("test-task-token-secret")
/** The repository token `RepoTokens` hands out in `TestPorter`. */
export const GITHUB_TOKEN = Redacted.make("ghs_testRepoToken000000000000000000000")

/**
 * A fake key for every built-in agent (its first secret name): what `TestPorter` stores in the global scope unless
 * `agentKeys` says otherwise. Machines never get these (they get the gateway's credential), so any value works.
 */
export const AGENT_KEYS: Readonly<Record<string, string>> = Object.fromEntries(
  AgentCatalog.builtInAgents.flatMap((agent) => {
    const name = agent.secrets.find((secret) => secret.optional !== true)?.names[0]
    return name === undefined ? [] : [[name, `test-${name.toLowerCase().replaceAll("_", "-")}`]]
  })
)

/** What `TestPorter` is built with; every field optional. */
export interface Options {
  readonly config?: Partial<PorterConfig.PorterInput>
  readonly settings?: Settings.RepoSettings
  /** Secrets in the store at start (any scope); they win over `agentKeys` of the same scope and name. */
  readonly secrets?: ReadonlyArray<{ scope: SecretStore.SecretScope; name: string; value: string }>
  /** Agent keys in the global scope, by name (`ANTHROPIC_API_KEY`…); default `AGENT_KEYS`; `{}` for none. */
  readonly agentKeys?: Readonly<Record<string, string>>
  readonly authorizer?: Layer.Layer<Authorizer.Authorizer>
  /** How webhook deliveries are verified and decoded (`@porter/github`'s `GitHubWebhooks.layer`); default: refused. */
  readonly webhooks?: Layer.Layer<WebhookIntake.WebhookIntake>
  /** What the git proxy reaches the git host with; default: the global `fetch`. */
  readonly httpClient?: Layer.Layer<HttpClient.HttpClient>
}

/** Every service `TestPorter.services` provides: the ports in memory and their controls. */
export type Services =
  | TaskStore.TaskStore
  | SecretStore.SecretStore
  | Settings.Settings
  | MachineProvisioner.MachineProvisioner
  | InMemoryProvisioner.Machines
  | Reporter.Reporter
  | IssueReader.IssueReader
  | RecordingReporter.GitHubRecorder
  | Authorizer.Authorizer
  | RepoTokens.RepoTokens
  | RepoWriter
  | InMemoryRepoWriter.Repositories
  | HttpClient.HttpClient
  | AgentCatalog.AgentCatalog
  | CommandParser.CommandParser
  | PromptBuilder.PromptBuilder
  | TaskTokens.TaskTokens
  | PorterConfig.PorterConfig
  | Background.Background
  | WebhookIntake.WebhookIntake
  | ModelUsage.UsageStore
  | ArtifactStore.ArtifactStore

const initialSecrets = (options: Options) => [
  ...Object.entries(options.agentKeys ?? AGENT_KEYS).map(([name, value]) => ({
    scope: SecretStore.scopes.global,
    name,
    value
  })),
  ...(options.secrets ?? [])
]

/** Every port Porter needs, in memory (no Porter itself). */
export const services = (options: Options = {}): Layer.Layer<Services> =>
  Layer.mergeAll(
    InMemoryTaskStore.layer,
    InMemorySecretStore.layer(initialSecrets(options)),
    Settings.layerMemory(options.settings),
    InMemoryProvisioner.layer,
    RecordingReporter.layer,
    options.authorizer ?? Authorizer.layerAllowAll,
    RepoTokens.layerStatic(GITHUB_TOKEN),
    InMemoryRepoWriter.layer,
    options.httpClient ?? FetchHttpClient.layer,
    CommandParser.layer.pipe(Layer.provideMerge(AgentCatalog.layer)),
    PromptBuilder.layer,
    TaskTokens.layer(TASK_TOKEN_SECRET),
    PorterConfig.layer({
      publicUrl: "http://porter.test",
      reportRetry: { times: 2, baseDelayMs: 0 },
      // In-memory machines run no runner to hand over work: a stopped task ends at once (no checkpoint).
      checkpointGraceMs: 0,
      ...options.config
    }),
    Background.layerInline,
    options.webhooks ?? WebhookIntake.layerRefuseAll,
    InMemoryUsageStore.layer,
    InMemoryArtifactStore.layer
  )

/** What `replace` may use: any in-memory service (a real provisioner's `HttpClient`, the config…). */
export interface ReplaceOptions<ROut, E, RIn> extends Options {
  /**
   * Real layers in place of in-memory ones: what this layer provides wins over the in-memory service of the same key
   * (e.g. `LocalProvisioner.layer(…)` for `MachineProvisioner`). Its requirements are met by the in-memory services
   * where they can be; the rest are the returned layer's requirements.
   */
  readonly replace: Layer.Layer<ROut, E, RIn>
}

/** Every service Porter needs: in memory, with `replace`'s layers in place of the ones they provide. */
export const servicesWith = <ROut, E, RIn>(
  options: ReplaceOptions<ROut, E, RIn>
): Layer.Layer<Services | ROut, E, Exclude<RIn, Services>> => Layer.provideMerge(options.replace, services(options))

/** Porter's services (the lifecycle and its facade) and every in-memory service with its controls. */
export function layer(options?: Options): Layer.Layer<Services | Porter.Services | Diagnostics.Diagnostics>
/** The same, with `options.replace`'s real layers in place of the in-memory services they provide. */
export function layer<ROut, E, RIn>(
  options: ReplaceOptions<ROut, E, RIn>
): Layer.Layer<Services | ROut | Porter.Services | Diagnostics.Diagnostics, E, Exclude<RIn, Services>>
export function layer(
  options: Options | ReplaceOptions<unknown, unknown, unknown> = {}
): Layer.Layer<never, unknown, unknown> {
  const all: Layer.Layer<Services, unknown, unknown> = "replace" in options ? servicesWith(options) : services(options)
  return Layer.merge(Porter.layer, Diagnostics.layerBasic).pipe(Layer.provideMerge(all))
}

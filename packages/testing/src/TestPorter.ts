/**
 * Porter on in-memory layers, in one `Layer`: the whole flow for tests, with the controls
 * (`Machines`, `GitHubRecorder`, `Repositories`) and the stores exposed. Swap any piece with `Layer.provide`.
 * The git proxy's `HttpClient` is the global `fetch` unless `options.httpClient` says otherwise.
 */
import type { IssueReader, MachineProvisioner, ModelUsage, Reporter, SecretStore, TaskStore } from "@porter/core"
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
  Settings,
  TaskTokens,
  WebhookIntake
} from "@porter/core"
import type { RepoWriter } from "@porter/core/RepoWriter"
import { Layer, Redacted } from "effect"
import { FetchHttpClient, type HttpClient } from "effect/http"
import * as InMemoryProvisioner from "./InMemoryProvisioner.ts"
import * as InMemoryRepoWriter from "./InMemoryRepoWriter.ts"
import * as InMemorySecretStore from "./InMemorySecretStore.ts"
import * as InMemoryTaskStore from "./InMemoryTaskStore.ts"
import * as InMemoryUsageStore from "./InMemoryUsageStore.ts"
import * as RecordingReporter from "./RecordingReporter.ts"

export const TASK_TOKEN_SECRET = Redacted.make("test-task-token-secret")
export const GITHUB_TOKEN = Redacted.make("ghs_testRepoToken000000000000000000000")

export interface Options {
  readonly config?: Partial<PorterConfig.PorterInput>
  readonly settings?: Settings.RepoSettings
  readonly secrets?: ReadonlyArray<{ scope: SecretStore.SecretScope; name: string; value: string }>
  readonly authorizer?: Layer.Layer<Authorizer.Authorizer>
  /** How webhook deliveries are verified and decoded (`@porter/github`'s `GitHubWebhooks.layer`); default: refused. */
  readonly webhooks?: Layer.Layer<WebhookIntake.WebhookIntake>
  /** What the git proxy reaches the git host with; default: the global `fetch`. */
  readonly httpClient?: Layer.Layer<HttpClient.HttpClient>
}

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

/** Every port Porter needs, in memory (no Porter itself). */
export const services = (options: Options = {}): Layer.Layer<Services> =>
  Layer.mergeAll(
    InMemoryTaskStore.layer,
    InMemorySecretStore.layer(options.secrets ?? []),
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
      ...options.config
    }),
    Background.layerInline,
    options.webhooks ?? WebhookIntake.layerRefuseAll,
    InMemoryUsageStore.layer
  )

/** Porter's services (the lifecycle and its facade) and every in-memory service with its controls. */
export const layer = (options: Options = {}): Layer.Layer<Services | Porter.Services | Diagnostics.Diagnostics> =>
  Layer.merge(Porter.layer, Diagnostics.layerBasic).pipe(Layer.provideMerge(services(options)))

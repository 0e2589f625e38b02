/**
 * Porter, assembled: the lifecycle services over the ports, in one layer, and a facade for embedding.
 *
 *   Intake ──▶ Commands ──▶ Dispatcher ──▶ TaskLifecycle        (and the Watchdog over all of them)
 *                                              ▲
 *                       the machine: GitProxy (read) · ChangeSets (write, by Porter)
 *
 * - `Intake`: webhook bytes → verified, filtered, claimed delivery; the answer (`Intake.ts`).
 * - `Commands`: a claimed delivery → replies, cancels, runs (`Commands.ts`).
 * - `CiFeedback`: failed checks on Porter's pull requests → a comment, `fix-ci`, automatic fixes (`CiFeedback.ts`).
 * - `Dispatcher`: a run → a task within the limits → a machine (`Dispatcher.ts`).
 * - `TaskLifecycle`: callbacks, endings, status, machine teardown (`TaskLifecycle.ts`).
 * - `Watchdog`: deadlines, heartbeats, re-dispatch, orphans, delivery retries (`Watchdog.ts`).
 * - `GitProxy`: the machine's read-only clone of its task's repository (`GitProxy.ts`).
 * - `ChangeSets`: the machine's proposed changes → Porter's commits and pull request (`ChangeSets.ts`).
 * - `Artifacts`: the agent's session, the run's transcript and diff, redacted and kept (`Artifacts.ts`).
 * - `ModelGateway`: the machine's model calls, with Porter's keys attached, metered and within budgets
 *   (`ModelGateway.ts`, `GatewayAccess.ts`).
 *
 * `layer` provides all of them (and `Porter`) from the ports: a TaskStore, SecretStore, Settings, MachineProvisioner,
 * Reporter, IssueReader, Authorizer, RepoTokens, RepoWriter, AgentCatalog, CommandParser, PromptBuilder, TaskTokens,
 * PorterConfig, WebhookIntake, Background, UsageStore, ArtifactStore and an HttpClient (the git proxy's and the model gateway's). The same programs run in the Worker, a Node host, or a test on in-memory layers.
 */
import { Context, Effect, Layer, Redacted } from "effect"
import type { HttpClient } from "effect/http"
import type * as AdminApi from "./AdminApi.ts"
import type { AgentCatalog } from "./AgentCatalog.ts"
import * as Approvals from "./Approvals.ts"
import * as Artifacts from "./Artifacts.ts"
import type { ArtifactStore } from "./ArtifactStore.ts"
import * as Audit from "./Audit.ts"
import type { Authorizer } from "./Authorizer.ts"
import type { Background } from "./Background.ts"
import type { CallbackEvent } from "./Callback.ts"
import * as ChangeSets from "./ChangeSets.ts"
import * as CiFeedback from "./CiFeedback.ts"
import type { CommandParser } from "./CommandParser.ts"
import * as Commands from "./Commands.ts"
import * as Dispatcher from "./Dispatcher.ts"
import type { StoreError, TaskNotFound } from "./Errors.ts"
import type { IncomingEvent } from "./Event.ts"
import * as GatewayAccess from "./GatewayAccess.ts"
import * as GitProxy from "./GitProxy.ts"
import { randomToken, type TaskId } from "./Ids.ts"
import * as Intake from "./Intake.ts"
import type { IssueReader } from "./IssueReader.ts"
import * as MachineAccess from "./MachineAccess.ts"
import * as MachineInputs from "./MachineInputs.ts"
import type { MachineProvisioner } from "./MachineProvisioner.ts"
import * as ModelGateway from "./ModelGateway.ts"
import type { UsageStore } from "./ModelUsage.ts"
import type { PorterConfig } from "./PorterConfig.ts"
import type { PromptBuilder } from "./PromptBuilder.ts"
import * as Queue from "./Queue.ts"
import type { IssueRef } from "./Repo.ts"
import type { Reporter } from "./Reporter.ts"
import * as Reports from "./Reports.ts"
import type { RepoTokens } from "./RepoTokens.ts"
import type { RepoWriter } from "./RepoWriter.ts"
import type { SecretStore } from "./SecretStore.ts"
import type { Settings } from "./Settings.ts"
import * as StatusComments from "./StatusComments.ts"
import * as TaskLifecycle from "./TaskLifecycle.ts"
import type { TaskStore } from "./TaskStore.ts"
import type { TaskTokens } from "./TaskTokens.ts"
import * as Watchdog from "./Watchdog.ts"
import type { WebhookIntake } from "./WebhookIntake.ts"

/** Porter, assembled: the lifecycle services over the ports, in one layer, and a facade for embedding. */
export class Porter extends Context.Service<Porter, {
  /** Filters and claims an event; `Accepted` means `process` must run (the watchdog retries it if it never does). */
  readonly intake: (event: IncomingEvent) => Effect.Effect<Intake.IntakeResult, StoreError>
  /** Acts on a claimed event: authorize, record, acknowledge, dispatch. Never fails; problems are reported. */
  readonly process: (event: IncomingEvent, receivedAt: number) => Effect.Effect<void>
  /** `intake` then `process`, inline. */
  readonly handle: (event: IncomingEvent) => Effect.Effect<Intake.IntakeResult, StoreError>
  /** A runner's callback for a task whose token was checked. */
  readonly callback: (
    taskId: TaskId,
    event: CallbackEvent
  ) => Effect.Effect<TaskLifecycle.CallbackAnswer, TaskNotFound | StoreError>
  readonly sweep: Effect.Effect<Watchdog.SweepReport>
  /** Cancels the active tasks of an issue; returns how many. */
  readonly cancelIssue: (issue: IssueRef, reason: string) => Effect.Effect<number, StoreError>
  /** Cancels one task; `false` when it had already ended. */
  readonly cancelTask: (taskId: TaskId, reason: string) => Effect.Effect<boolean, TaskNotFound | StoreError>
  /** The task's public view (no log tail, no secrets). */
  readonly view: (taskId: TaskId) => Effect.Effect<AdminApi.TaskView, TaskNotFound | StoreError>
}>()("@porter/core/Porter") {}

/** The ports Porter runs on. */
export type Ports =
  | TaskStore
  | SecretStore
  | Settings
  | MachineProvisioner
  | Reporter
  | IssueReader
  | Authorizer
  | RepoTokens
  | RepoWriter
  | HttpClient.HttpClient
  | AgentCatalog
  | CommandParser
  | PromptBuilder
  | TaskTokens
  | PorterConfig
  | WebhookIntake
  | Background
  | UsageStore
  | ArtifactStore

/** Every service `layer` provides. */
export type Services =
  | Porter
  | Intake.Intake
  | Commands.Commands
  | CiFeedback.CiFeedback
  | Dispatcher.Dispatcher
  | MachineInputs.MachineInputs
  | TaskLifecycle.TaskLifecycle
  | Watchdog.Watchdog
  | GitProxy.GitProxy
  | ChangeSets.ChangeSets
  | StatusComments.StatusComments
  | Reports.Reports
  | MachineAccess.MachineAccess
  | Audit.Audit
  | Queue.Queue
  | Approvals.Approvals
  | Artifacts.Artifacts
  | GatewayAccess.GatewayAccess
  | ModelGateway.ModelGateway

const facade = Layer.effect(
  Porter,
  Effect.gen(function*() {
    const intake = yield* Intake.Intake
    const commands = yield* Commands.Commands
    const lifecycle = yield* TaskLifecycle.TaskLifecycle
    const watchdog = yield* Watchdog.Watchdog
    return Porter.of({
      intake: intake.accept,
      process: commands.handle,
      handle: (event) =>
        Effect.tap(
          intake.accept(event),
          (result) => result._tag === "Accepted" ? commands.handle(event, result.receivedAt) : Effect.void
        ),
      callback: lifecycle.callback,
      sweep: watchdog.sweep,
      cancelIssue: (issue, reason) => lifecycle.cancelIssue(issue, reason),
      cancelTask: lifecycle.cancelTask,
      view: lifecycle.view
    })
  })
)

const support = StatusComments.layer.pipe(
  Layer.provideMerge(Queue.layer),
  Layer.provideMerge(Reports.layer),
  Layer.provideMerge(MachineAccess.layer),
  Layer.provideMerge(Artifacts.layer),
  Layer.provideMerge(Audit.layer)
)

/** Porter's services over the ports. */
export const layer: Layer.Layer<Services, never, Ports> = facade.pipe(
  Layer.provideMerge(
    Layer.mergeAll(
      Watchdog.layer,
      Intake.layer,
      GitProxy.layer,
      ChangeSets.layer,
      ModelGateway.layer.pipe(Layer.provideMerge(GatewayAccess.layer))
    )
  ),
  Layer.provideMerge(Commands.layer),
  Layer.provideMerge(CiFeedback.layer),
  Layer.provideMerge(Layer.merge(Dispatcher.layer, Approvals.layer)),
  Layer.provideMerge(MachineInputs.layer),
  Layer.provideMerge(TaskLifecycle.layer),
  Layer.provideMerge(support)
)

/** Generates a fresh random task-token secret (for local setups that have none configured). */
export const randomSecret = (): Redacted.Redacted<string> => Redacted.make(randomToken(32))

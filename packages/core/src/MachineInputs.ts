/**
 * MachineInputs: what a task's machine is started with, gathered once the task is claimed for a dispatch: its agent's
 * secrets (user → repository → installation → global), the task token and gateway credential, the issue and thread for
 * the prompt (prompting without them when they cannot be read), the repository's `.github/porter.yml` extras (setup
 * commands, instructions), a `fix_ci` task's failing checks, a continuation's session or summary; then the machine spec.
 * A request that cannot run (no such agent, a missing key, an unreadable secret, a bad configuration) is refused with
 * the sentence the issue gets.
 *
 * The machine gets no GitHub token (it clones through Porter) and, unless its agent keeps keys on the machine, no
 * provider key (Porter's gateway attaches it).
 */
import { Context, Effect, Layer, Option, Redacted, Result } from "effect"
import { AgentCatalog } from "./AgentCatalog.ts"
import { Artifacts } from "./Artifacts.ts"
import { Audit } from "./Audit.ts"
import { HostSecrets } from "./ChangeSets.ts"
import * as CiLogs from "./CiLogs.ts"
import { MissingSecret, type StoreError } from "./Errors.ts"
import { IssueSnapshot } from "./Event.ts"
import { randomToken } from "./Ids.ts"
import { IssueReader } from "./IssueReader.ts"
import { chainOf, MachineAccess } from "./MachineAccess.ts"
import type { MachineSpec } from "./MachineProvisioner.ts"
import * as MachineRequest from "./MachineRequest.ts"
import { PorterConfig } from "./PorterConfig.ts"
import { PromptBuilder, resumePrompt } from "./PromptBuilder.ts"
import * as RepoConfig from "./RepoConfig.ts"
import { scopeKey, type SecretScope, SecretStore } from "./SecretStore.ts"
import { Settings } from "./Settings.ts"
import { issueOf } from "./StatusComments.ts"
import type { Task } from "./Task.ts"
import { TaskTokens } from "./TaskTokens.ts"

/**
 * What the request's handling already read, so the dispatch does not read it again: the issue (from the webhook) and
 * the repository's `.github/porter.yml` (read before the task was recorded). A task dispatched later reads both anew.
 */
export interface AtHand {
  readonly issue: IssueSnapshot
  readonly config: RepoConfig.Loaded
}

/** The machine to start (and the per-owner credential its provisioner needs, if any), or why it cannot start. */
export type Prepared =
  | { readonly _tag: "Ready"; readonly spec: MachineSpec; readonly credential: Redacted.Redacted<string> | undefined }
  | { readonly _tag: "Refused"; readonly reason: string }

const refused = (reason: string): Prepared => ({ _tag: "Refused", reason })

/** What a task's machine is started with. */
export class MachineInputs extends Context.Service<MachineInputs, {
  /** Gathers the machine's inputs for a claimed task; a store failure fails the dispatch attempt. */
  readonly prepare: (task: Task, atHand: AtHand | undefined) => Effect.Effect<Prepared, StoreError>
}>()("@porter/core/MachineInputs") {}

/** `NAME from scope` for each secret found, e.g. `ANTHROPIC_API_KEY from user:42` (the `secrets` audit line). */
export const secretSources = (found: ReadonlyMap<string, { readonly scope: SecretScope }>): string =>
  [...found].map(([name, secret]) => `${name} from ${scopeKey(secret.scope)}`).join("; ")

/** The `MachineInputs` service, built from its dependencies in the context. */
export const make = Effect.gen(function*() {
  const secrets = yield* SecretStore
  const settingsService = yield* Settings
  const reader = yield* IssueReader
  const catalog = yield* AgentCatalog
  const prompts = yield* PromptBuilder
  const tokens = yield* TaskTokens
  const config = yield* PorterConfig
  const machines = yield* MachineAccess
  const audit = yield* Audit
  const artifacts = yield* Artifacts

  /** A `fix_ci` task's failing checks and logs, scrubbed of `values` and credential shapes, or why they are missing. */
  const ciReport = (task: Task, values: ReadonlyArray<{ readonly name: string; readonly value: string }>) =>
    CiLogs.report(reader, task.repo, { ref: MachineRequest.branchFor(task) }, task.installationId, values).pipe(
      Effect.catch((error) =>
        Effect.as(
          Effect.logWarning("could not read the failing checks; prompting without them", { error: error.message }),
          { unreadable: error.message }
        )
      )
    )

  const prepare = Effect.fn("MachineInputs.prepare")(function*(task: Task, atHand: AtHand | undefined) {
    yield* Effect.annotateCurrentSpan({ taskId: task.id, attempt: task.dispatchAttempts })
    const agent = catalog.resolve(task.agent)
    if (Option.isNone(agent)) return refused(`no agent called \`${task.agent}\` is configured here`)
    const names = [...MachineRequest.secretNamesOf(agent.value), ...Option.toArray(machines.credentialName)]
    // Independent reads, together: every secret in one store read and the task token, and the thread for the prompt
    // (prompting without it when it cannot be read). The machine gets no GitHub token: it clones through Porter.
    const [prepared, thread, read, extras] = yield* Effect.all([
      Effect.all({
        found: secrets.resolveAll(names, chainOf(task)),
        callbackToken: tokens.issue(task.id),
        gatewayToken: tokens.issue(task.id, "gateway")
      }, { concurrency: "unbounded" }).pipe(Effect.result),
      reader.thread(issueOf(task), config.threadLimit, task.installationId).pipe(
        Effect.catch((error) =>
          Effect.as(Effect.logWarning("could not read the thread; prompting without it", { error: error.message }), [])
        )
      ),
      // A task dispatched again (the watchdog, a retry) has no webhook at hand: the issue is read from GitHub.
      atHand !== undefined ?
        Effect.succeed(Option.some(atHand.issue)) :
        reader.issue(issueOf(task), task.installationId).pipe(
          Effect.map(Option.some),
          Effect.catch((error) =>
            Effect.as(
              Effect.logWarning("could not read the issue; prompting without it", { error: error.message }),
              Option.none()
            )
          )
        ),
      RepoConfig.machineExtras(reader, task.repo, task.baseBranch, task.installationId, atHand?.config).pipe(
        Effect.result
      )
    ], { concurrency: "unbounded" })
    if (Result.isFailure(extras)) return refused(extras.failure.message)
    if (Result.isFailure(prepared)) {
      const error = prepared.failure
      return refused(
        error._tag === "SecretDecryptionFailed"
          ? error.message
          : `could not read secrets: ${error.message}`
      )
    }
    const { callbackToken, found, gatewayToken } = prepared.success
    // Which scope each secret came from (names and scopes, never values): the task's page shows whose key ran.
    if (found.size > 0) yield* audit.record(task.id, "secrets", secretSources(found))
    const agentEnv = MachineRequest.agentSecrets(agent.value, found, task.repo.fullName)
    if (Result.isFailure(agentEnv)) {
      // The message tells the user how to ask again: with this repository's mention.
      const settings = yield* settingsService.forRepo(task.repo.fullName, task.installationId)
      return refused(
        new MissingSecret({
          agent: agentEnv.failure.agent,
          names: agentEnv.failure.names,
          repo: agentEnv.failure.repo,
          mention: settings.mentionName
        }).message
      )
    }

    // A `fix_ci` task: the failing checks of its branch's head with their logs, scrubbed of every value this task's
    // machine could hold and of the host's (prompting without them when they cannot be read).
    const ci = task.mode === "fix_ci"
      ? yield* ciReport(task, [
        ...(yield* HostSecrets).map(({ name, value }) => ({ name, value: Redacted.value(value) })),
        ...[...found].map(([name, secret]) => ({ name, value: Redacted.value(secret.value) })),
        { name: "the task's token", value: Redacted.value(callbackToken) },
        { name: "the task's gateway credential", value: Redacted.value(gatewayToken) }
      ])
      : undefined
    const snapshot = Option.getOrElse(
      read,
      () => new IssueSnapshot({ title: `#${task.issueNumber}`, body: "", state: "open" })
    )
    const continued = task.continuesFrom === undefined
      ? undefined
      : yield* artifacts.continuation(task, agent.value, task.continuesFrom)
    const prompt = continued?.resume === true
      ? resumePrompt({ task, branch: MachineRequest.branchFor(task) }, randomToken(12))
      : yield* prompts.build({
        continuation: continued?.fresh,
        task,
        issue: snapshot,
        thread,
        branch: MachineRequest.branchFor(task),
        repoInstructions: extras.success.instructions,
        ci
      })
    const credential = Option.getOrUndefined(
      Option.flatMap(machines.credentialName, (name) => Option.fromNullishOr(found.get(name)?.value))
    )
    const spec = yield* MachineRequest.machineSpec(config, {
      task,
      agent: agent.value,
      prompt,
      issueTitle: snapshot.title,
      agentEnv: agentEnv.success,
      callbackToken,
      gatewayToken,
      credential,
      setup: extras.success.setup,
      resume: continued?.resume === true
    }).pipe(Effect.result)
    if (Result.isFailure(spec)) {
      return refused(`the machine cannot be started for this request: ${spec.failure.message}`)
    }
    return { _tag: "Ready", spec: spec.success, credential } satisfies Prepared
  })

  return MachineInputs.of({ prepare })
})

/** `MachineInputs` as a layer (`make`). */
export const layer: Layer.Layer<
  MachineInputs,
  never,
  | SecretStore
  | Settings
  | IssueReader
  | AgentCatalog
  | PromptBuilder
  | TaskTokens
  | PorterConfig
  | MachineAccess
  | Audit
  | Artifacts
> = Layer.effect(MachineInputs, make)

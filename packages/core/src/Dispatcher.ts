/**
 * Dispatcher: from a run request to a machine. It records the task (within the active-task limits, in the same write),
 * acknowledges it on the issue (👀 and the status comment, beside the rest), gathers what the machine needs (secrets,
 * the repository token, the task credential, the thread for the prompt) and asks the provisioner for the machine.
 *
 * Guarantees: one task per delivery, however often it is delivered (task ids derive from it); never two machines for
 * a task (a dispatch begins with a compare-and-set, and a later attempt asks `findByTask` first); one status comment
 * per task, written once per state, and the machine is requested only once it exists (its callbacks edit it).
 */
import { Clock, Context, Effect, Fiber, Layer, Option, Result } from "effect"
import { AgentCatalog } from "./AgentCatalog.ts"
import { Audit } from "./Audit.ts"
import type { Run } from "./Command.ts"
import { MissingSecret, type StoreError } from "./Errors.ts"
import { type CommentCreated, IssueSnapshot } from "./Event.ts"
import { randomToken, taskIdFor } from "./Ids.ts"
import { IssueReader } from "./IssueReader.ts"
import { chainOf, MachineAccess } from "./MachineAccess.ts"
import { MachineProvisioner } from "./MachineProvisioner.ts"
import * as MachineRequest from "./MachineRequest.ts"
import * as Messages from "./Messages.ts"
import { PorterConfig } from "./PorterConfig.ts"
import { PromptBuilder } from "./PromptBuilder.ts"
import { type Actor, IssueRef } from "./Repo.ts"
import { Reports } from "./Reports.ts"
import { scopeKey, type SecretScope, SecretStore } from "./SecretStore.ts"
import { type RepoSettings, Settings } from "./Settings.ts"
import { issueOf, StatusComments } from "./StatusComments.ts"
import { Task, type TaskPatch } from "./Task.ts"
import { TaskLifecycle } from "./TaskLifecycle.ts"
import { TaskStore } from "./TaskStore.ts"
import { TaskTokens } from "./TaskTokens.ts"

/** A comment's request for a run, authorized and parsed. */
export interface RunRequest {
  readonly event: CommentCreated
  readonly run: Run
  readonly settings: RepoSettings
  readonly receivedAt: number
  /** Distinguishes the tasks one delivery may make (`retry` makes a second one). */
  readonly salt: string
}

export class Dispatcher extends Context.Service<Dispatcher, {
  /** Records the task a request asks for, acknowledges it and dispatches it; a request over a limit is answered. */
  readonly start: (request: RunRequest) => Effect.Effect<void, StoreError>
  /** Dispatches a recorded task again (the watchdog, for a dispatch that never finished). Never fails. */
  readonly redispatch: (task: Task) => Effect.Effect<void>
  /**
   * Runs an ended task again as a new task of the same issue, for `by` (the admin API, the web app): `None` when
   * the repository's or the user's active-task limit is reached.
   */
  readonly retry: (previous: Task, by: Actor) => Effect.Effect<Option.Option<Task>, StoreError>
}>()("@porter/core/Dispatcher") {}

/**
 * A dispatch's status updates, made in order while the dispatch goes on: the first comment (when this dispatch
 * makes it), then one update per state. `settled` waits for all of them.
 */
interface StatusLine {
  /** The first status comment exists (or could not be made). */
  readonly commented: Effect.Effect<void>
  readonly settled: Effect.Effect<void>
  /** Starts showing `task` once the updates before it are done; does not wait. */
  readonly show: (task: Task) => Effect.Effect<void>
  /** `task` with the status comment's id, once known. */
  readonly withComment: (task: Task) => Task
}

/** `NAME from scope` for each secret found, e.g. `ANTHROPIC_API_KEY from user:42` (the `secrets` audit line). */
export const secretSources = (found: ReadonlyMap<string, { readonly scope: SecretScope }>): string =>
  [...found].map(([name, secret]) => `${name} from ${scopeKey(secret.scope)}`).join("; ")

export const make = Effect.gen(function*() {
  const store = yield* TaskStore
  const secrets = yield* SecretStore
  const settingsService = yield* Settings
  const provisioner = yield* MachineProvisioner
  const reader = yield* IssueReader
  const catalog = yield* AgentCatalog
  const prompts = yield* PromptBuilder
  const tokens = yield* TaskTokens
  const config = yield* PorterConfig
  const status = yield* StatusComments
  const reports = yield* Reports
  const lifecycle = yield* TaskLifecycle
  const machines = yield* MachineAccess
  const audit = yield* Audit
  const now = Clock.currentTimeMillis

  const statusLine = (first: Fiber.Fiber<Option.Option<number>> | undefined, initial: Task): StatusLine => {
    let commentId = initial.statusCommentId
    const commented = first === undefined ? Effect.void : Effect.asVoid(
      Effect.tap(Fiber.join(first), (id) => Effect.sync(() => (commentId = Option.getOrUndefined(id) ?? commentId)))
    )
    let settled: Effect.Effect<void> = commented
    const withComment = (task: Task) =>
      commentId === undefined || task.statusCommentId === commentId
        ? task
        : new Task({ ...task, statusCommentId: commentId })
    return {
      commented,
      settled: Effect.suspend(() => settled),
      withComment,
      show: (task) =>
        Effect.gen(function*() {
          const before = settled
          const fiber = yield* Effect.forkChild(
            Effect.andThen(before, Effect.suspend(() => status.show(withComment(task))))
          )
          settled = Effect.asVoid(Fiber.join(fiber))
        })
    }
  }

  /** `dispatch` once the task is claimed: secrets, tokens, thread and prompt, then the machine. */
  const provision = Effect.fnUntraced(function*(
    task: Task,
    issue: IssueSnapshot | undefined,
    line: StatusLine,
    fail: (reason: string) => Effect.Effect<unknown, StoreError>
  ) {
    yield* Effect.annotateCurrentSpan({ taskId: task.id, attempt: task.dispatchAttempts })
    const agent = catalog.resolve(task.agent)
    if (Option.isNone(agent)) return yield* fail(`no agent called \`${task.agent}\` is configured here`)
    const names = [...MachineRequest.secretNamesOf(agent.value), ...Option.toArray(machines.credentialName)]
    // Independent reads, together: every secret in one store read and the task token, and the thread for the prompt
    // (prompting without it when it cannot be read). The machine gets no GitHub token: it clones through Porter.
    const [prepared, thread, read] = yield* Effect.all([
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
      issue !== undefined ? Effect.succeed(Option.some(issue)) : reader.issue(issueOf(task), task.installationId).pipe(
        Effect.map(Option.some),
        Effect.catch((error) =>
          Effect.as(
            Effect.logWarning("could not read the issue; prompting without it", { error: error.message }),
            Option.none()
          )
        )
      )
    ], { concurrency: "unbounded" })
    if (Result.isFailure(prepared)) {
      const error = prepared.failure
      return yield* fail(
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
      return yield* fail(
        new MissingSecret({
          agent: agentEnv.failure.agent,
          names: agentEnv.failure.names,
          repo: agentEnv.failure.repo,
          mention: settings.mentionName
        }).message
      )
    }

    const snapshot = Option.getOrElse(
      read,
      () => new IssueSnapshot({ title: `#${task.issueNumber}`, body: "", state: "open" })
    )
    const prompt = yield* prompts.build({ task, issue: snapshot, thread, branch: MachineRequest.branchFor(task) })
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
      credential
    }).pipe(Effect.result)
    if (Result.isFailure(spec)) {
      return yield* fail(`the machine cannot be started for this request: ${spec.failure.message}`)
    }
    const options = credential !== undefined ? { credential } : {}
    // Only a later attempt can find a machine of this task (a lost create answer, a dispatcher that died after its
    // create): the first attempt is the task's first dispatch (`beginDispatch` let exactly one caller make it). A
    // lookup that fails fails this attempt (a transient failure is tried again by the sweep): creating a machine
    // without knowing could make a second one.
    const existing = task.dispatchAttempts <= 1 ? Option.none() : yield* provisioner.findByTask(task.id, options)
    yield* line.commented
    const machine = Option.isSome(existing)
      ? existing.value
      : yield* provisioner.create(spec.success).pipe(
        Effect.tapError((error) => audit.record(task.id, "machine_failed", error.message))
      )
    if (Option.isSome(existing)) yield* audit.record(task.id, "machine_found", machine.id)
    const recorded = yield* store.update(task.id, { machineId: machine.id }, yield* now, ["provisioning", "running"])
      .pipe(Effect.result)
    // Cancelled or timed out while the machine was starting: it has no task to work for.
    if (Result.isFailure(recorded)) yield* machines.destroy(task, machine.id, options)
  })

  /** Provisions the task's machine, once: safe to call again for a stuck task. */
  const dispatch = Effect.fn("Dispatcher.dispatch")(function*(
    task: Task,
    issue: IssueSnapshot | undefined,
    first?: Fiber.Fiber<Option.Option<number>>
  ) {
    const line = statusLine(first, task)
    const fail = (failed: Task, patch: TaskPatch) =>
      Effect.andThen(line.settled, Effect.suspend(() => lifecycle.finish(line.withComment(failed), "failed", patch)))

    yield* Effect.gen(function*() {
      const claimed = yield* store.beginDispatch(task.id, task.dispatchAttempts, yield* now)
      if (Option.isNone(claimed)) return
      // "Starting a machine" goes to the issue while the machine is being prepared and requested.
      if (task.state === "queued") yield* line.show(claimed.value)
      yield* provision(claimed.value, issue, line, (reason) => fail(claimed.value, { reason }))
    }).pipe(
      Effect.catch((error) =>
        Effect.gen(function*() {
          const reason = error._tag === "ProvisionError"
            ? `could not start a machine: ${error.message}`
            : `dispatch failed: ${error.message}`
          yield* Effect.logWarning("dispatch failed", { taskId: task.id, error: error.message })
          const latest = yield* store.find(task.id).pipe(Effect.orElseSucceed(() => Option.none<Task>()))
          if (Option.isNone(latest) || latest.value.isTerminal) return
          // A provider outage or rate limit is worth another attempt: the sweep dispatches the task again
          // (asking the provider for the task's machine first), up to `maxDispatchAttempts`.
          const transient = error._tag === "ProvisionError" &&
            (error.reason === "rate_limited" || error.reason === "unavailable")
          if (transient && latest.value.dispatchAttempts < config.maxDispatchAttempts) {
            return yield* audit.record(task.id, "dispatch_deferred", reason)
          }
          yield* fail(latest.value, { reason })
        }).pipe(Effect.ignore)
      ),
      Effect.andThen(line.settled)
    )
  })

  /**
   * Acknowledges and dispatches a recorded task — also one that a retried delivery finds already made (its limits
   * were checked when it was made, and what was done then is not done twice).
   */
  const resume = Effect.fnUntraced(function*(task: Task, event: CommentCreated) {
    const acknowledge = task.statusCommentId === undefined
    const issue = new IssueRef({ repo: event.repo, number: event.issueNumber })
    // Neither the 👀 reaction nor the first status comment holds up the dispatch; the machine waits for the comment.
    const reaction = acknowledge
      ? yield* Effect.forkChild(
        reports.react(issue, { kind: event.kind, commentId: event.commentId }, "eyes", task.id)
      )
      : undefined
    if (task.state === "queued" && task.dispatchAttempts === 0) {
      const first = acknowledge ? yield* Effect.forkChild(status.show(task)) : undefined
      yield* dispatch(task, event.issue, first)
    } else if (acknowledge) {
      yield* status.show(task)
    }
    if (reaction !== undefined) yield* Fiber.join(reaction)
  })

  /** Where the work goes: for a comment on a pull request, that PR's branch — unless it lives in a fork. */
  const branches = Effect.fnUntraced(function*(event: CommentCreated) {
    let headBranch = event.pullRequest?.headBranch
    let headRepo = event.pullRequest?.headRepoFullName
    let baseBranch = event.pullRequest?.baseBranch ?? event.defaultBranch
    if (event.isPullRequest && headBranch === undefined) {
      const pr = yield* reader.pullRequest(event.repo, event.issueNumber, event.installationId).pipe(Effect.option)
      if (Option.isSome(pr)) {
        headBranch = pr.value.headBranch
        headRepo = pr.value.headRepoFullName
        baseBranch = pr.value.baseBranch
      }
    }
    // A fork's branch cannot be pushed with this repository's token (and its name may well be this repository's
    // default branch): work on a new branch of this repository instead, based on the PR's base.
    if (headRepo !== undefined && headRepo.toLowerCase() !== event.repo.fullName.toLowerCase()) headBranch = undefined
    return { headBranch, baseBranch }
  })

  const start = Effect.fn("Dispatcher.start")(function*(request: RunRequest) {
    const { event, run, settings } = request
    const id = yield* taskIdFor(event.deliveryId, request.receivedAt, request.salt)
    const { baseBranch, headBranch } = yield* branches(event)
    const at = yield* now
    const timeoutMs = run.timeoutMs ?? settings.defaultTimeoutMs
    const task = new Task({
      id,
      state: "queued",
      repo: event.repo,
      issueNumber: event.issueNumber,
      isPullRequest: event.isPullRequest,
      ...(event.installationId !== undefined ? { installationId: event.installationId } : {}),
      requestedBy: event.author,
      triggerKind: event.kind,
      triggerCommentId: event.commentId,
      deliveryId: event.deliveryId,
      agent: run.agent,
      ...(run.model !== undefined ? { model: run.model } : {}),
      instructions: run.instructions,
      ...(baseBranch !== undefined ? { baseBranch } : {}),
      ...(headBranch !== undefined ? { headBranch } : {}),
      timeoutMs,
      createdAt: at,
      updatedAt: at,
      deadlineAt: at + timeoutMs,
      dispatchAttempts: 0
    })
    const created = yield* store.create(task, {
      perRepository: settings.maxActivePerRepo,
      perUser: settings.maxActivePerUser
    })
    if (created._tag === "OverLimit") {
      return yield* reports.reply(
        new IssueRef({ repo: event.repo, number: event.issueNumber }),
        Messages.limitReached(event.author.login, created.scope, created.limit)
      )
    }
    yield* resume(created.task, event)
  })

  const redispatch = (task: Task) => dispatch(task, undefined)

  const retry = Effect.fn("Dispatcher.retry")(function*(previous: Task, by: Actor) {
    const settings = yield* settingsService.forRepo(previous.repo.fullName, previous.installationId)
    const at = yield* now
    const task = new Task({
      id: yield* taskIdFor(previous.deliveryId, at, `retry:${at}:${randomToken(8)}`),
      state: "queued",
      repo: previous.repo,
      issueNumber: previous.issueNumber,
      isPullRequest: previous.isPullRequest,
      ...(previous.installationId !== undefined ? { installationId: previous.installationId } : {}),
      requestedBy: by,
      triggerKind: previous.triggerKind,
      triggerCommentId: previous.triggerCommentId,
      deliveryId: previous.deliveryId,
      agent: previous.agent,
      ...(previous.model !== undefined ? { model: previous.model } : {}),
      instructions: previous.instructions,
      ...(previous.baseBranch !== undefined ? { baseBranch: previous.baseBranch } : {}),
      ...(previous.headBranch !== undefined ? { headBranch: previous.headBranch } : {}),
      timeoutMs: previous.timeoutMs,
      createdAt: at,
      updatedAt: at,
      deadlineAt: at + previous.timeoutMs,
      dispatchAttempts: 0
    })
    const created = yield* store.create(task, {
      perRepository: settings.maxActivePerRepo,
      perUser: settings.maxActivePerUser
    })
    if (created._tag !== "Created") return Option.none<Task>()
    const first = yield* Effect.forkChild(status.show(created.task))
    yield* dispatch(created.task, undefined, first)
    return yield* store.find(created.task.id)
  })

  return Dispatcher.of({ start, redispatch, retry })
})

export const layer: Layer.Layer<
  Dispatcher,
  never,
  | TaskStore
  | SecretStore
  | Settings
  | MachineProvisioner
  | IssueReader
  | AgentCatalog
  | PromptBuilder
  | TaskTokens
  | PorterConfig
  | StatusComments
  | Reports
  | TaskLifecycle
  | MachineAccess
  | Audit
> = Layer.effect(Dispatcher, make)

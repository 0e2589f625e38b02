/**
 * The orchestration programs: handle an incoming event, handle a runner callback, sweep, cancel.
 * Built only from the service ports, so the same programs run in the Worker, a Node host, or a
 * test with in-memory layers.
 *
 * Guarantees kept here (adapters only need their own contracts):
 * - one task per delivery, however often it is delivered or retried (task ids derive from it);
 * - every task reaches a terminal state, and the issue is told why;
 * - never two machines for one task (dispatch is compare-and-set, and a later attempt asks `findByTask` first);
 * - a report that fails is retried, then given up: it never changes a task's outcome.
 */
import { Clock, Context, Effect, Fiber, Layer, Option, Redacted, Schedule, Schema } from "effect"
import type * as AdminApi from "./AdminApi.ts"
import type { AgentSpec } from "./Agent.ts"
import { AgentCatalog } from "./AgentCatalog.ts"
import { Authorizer } from "./Authorizer.ts"
import { type CallbackEvent, CallbackEventFromJson, type CompletedEvent } from "./Callback.ts"
import { Run } from "./Command.ts"
import { CommandParser } from "./CommandParser.ts"
import {
  CallbackMalformed,
  CallbackUnauthorized,
  IllegalTransition,
  MissingSecret,
  type StoreError,
  TaskNotFound
} from "./Errors.ts"
import { type CommentCreated, type IncomingEvent, IncomingEventFromJson, IssueSnapshot } from "./Event.ts"
import { type DeliveryId, type MachineId, randomToken, shortTaskId, TaskId } from "./Ids.ts"
import { IssueReader } from "./IssueReader.ts"
import { isGone, MachineProvisioner, type MachineSpec } from "./MachineProvisioner.ts"
import * as Messages from "./Messages.ts"
import { PorterConfig } from "./PorterConfig.ts"
import { PromptBuilder } from "./PromptBuilder.ts"
import { IssueRef, RepoRef } from "./Repo.ts"
import { Reporter } from "./Reporter.ts"
import { RepoTokens } from "./RepoTokens.ts"
import { type SecretChain, SecretName, SecretStore } from "./SecretStore.ts"
import { type RepoSettings, Settings } from "./Settings.ts"
import { isTerminal, Task, type TaskPatch, TaskState } from "./Task.ts"
import { TaskEvent, TaskStore } from "./TaskStore.ts"
import { TaskTokens } from "./TaskTokens.ts"

export type Intake =
  | { readonly _tag: "Accepted"; readonly receivedAt: number }
  | { readonly _tag: "Ignored"; readonly reason: string }

export interface CallbackAnswer {
  /** `false` when the task had already ended: the runner should stop calling. */
  readonly accepted: boolean
  readonly state: TaskState
  readonly message?: string
}

export interface SweepReport {
  readonly checked: number
  readonly timedOut: number
  readonly redispatched: number
  readonly failed: number
  readonly orphansDestroyed: number
  readonly deliveriesRetried: number
}

/** What `GET /tasks/:id` shows: no log tail, no secrets (the schema is `AdminApi.TaskView`). */
export type TaskView = AdminApi.TaskView

export class Porter extends Context.Service<Porter, {
  /**
   * The fast part of webhook handling: filter, then claim the delivery. `Accepted` means the
   * caller must run `process` (now or in the background); the delivery is recorded, so the sweep
   * retries it if `process` never completes.
   */
  readonly intake: (event: IncomingEvent) => Effect.Effect<Intake, StoreError>
  /** The slow part: authorize, record, acknowledge, dispatch. Never fails; problems are reported. */
  readonly process: (event: IncomingEvent, receivedAt: number) => Effect.Effect<void>
  /** `intake` then `process`, inline. */
  readonly handle: (event: IncomingEvent) => Effect.Effect<Intake, StoreError>
  readonly callback: (
    taskId: string,
    bearerToken: string | undefined,
    body: string
  ) => Effect.Effect<CallbackAnswer, CallbackUnauthorized | CallbackMalformed | TaskNotFound | StoreError>
  readonly sweep: Effect.Effect<SweepReport>
  /** Cancels the active tasks of an issue; returns how many. */
  readonly cancelIssue: (issue: IssueRef, reason: string) => Effect.Effect<number, StoreError>
  /** Cancels one task; `false` when it had already ended. */
  readonly cancelTask: (taskId: TaskId, reason: string) => Effect.Effect<boolean, TaskNotFound | StoreError>
  /** The task's public view, for its token holder or an admin. */
  readonly view: (
    taskId: string,
    bearerToken: string | undefined,
    isAdmin: boolean
  ) => Effect.Effect<TaskView, CallbackUnauthorized | TaskNotFound | StoreError>
}>()("@porter/core/Porter") {}

const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
const encoder = new TextEncoder()

/** A task id derived from its delivery: retrying a delivery can never create a second task. */
export const taskIdFor = (deliveryId: DeliveryId, receivedAt: number, salt = "") =>
  Effect.promise(() => crypto.subtle.digest("SHA-256", encoder.encode(`${deliveryId}:${salt}`))).pipe(
    Effect.map((digest) => {
      const bytes = new Uint8Array(digest)
      let time = ""
      let rest = Math.floor(receivedAt)
      for (let i = 0; i < 10; i++) {
        time = ALPHABET[rest % 32] + time
        rest = Math.floor(rest / 32)
      }
      let random = ""
      for (let i = 0; i < 16; i++) random += ALPHABET[bytes[i]! & 31]
      return `task_${time}${random}` as TaskId
    })
  )

/** The branch a task's work goes to. */
export const branchFor = (task: Pick<Task, "id" | "issueNumber" | "headBranch">): string =>
  task.headBranch ?? `porter/${task.issueNumber}-${shortTaskId(task.id)}`

const iso = (ms: number) => new Date(ms).toISOString()

export const toView = (task: Task): TaskView => ({
  id: task.id,
  state: task.state,
  repo: task.repo.fullName,
  issueNumber: task.issueNumber,
  agent: task.agent,
  createdAt: iso(task.createdAt),
  updatedAt: iso(task.updatedAt),
  deadlineAt: iso(task.deadlineAt),
  ...(task.model !== undefined ? { model: task.model } : {}),
  ...(task.machineId !== undefined ? { machineId: task.machineId } : {}),
  ...(task.outcome !== undefined ? { outcome: task.outcome } : {}),
  ...(task.branch !== undefined ? { branch: task.branch } : {}),
  ...(task.commitSha !== undefined ? { commitSha: task.commitSha } : {}),
  ...(task.prUrl !== undefined ? { prUrl: task.prUrl } : {}),
  ...(task.summary !== undefined ? { summary: task.summary } : {}),
  ...(task.reason !== undefined ? { reason: task.reason } : {}),
  ...(task.usage !== undefined ? { usage: task.usage } : {})
})

/** A dispatch's status updates: made in order, some while the dispatch goes on. */
interface StatusLine {
  /** The task's first status comment is made (or given up on). */
  readonly commented: Effect.Effect<void>
  /** Every status update started so far is done. */
  readonly settled: Effect.Effect<void>
  /** Starts a status update once those before it are done; does not wait for it. */
  readonly inBackground: (taskId: TaskId) => Effect.Effect<void>
}

const decodeCallback = Schema.decodeUnknownEffect(CallbackEventFromJson)
const decodeEvent = Schema.decodeUnknownEffect(IncomingEventFromJson)
const decodeSecretName = Schema.decodeUnknownOption(SecretName)

export const make = Effect.gen(function*() {
  const store = yield* TaskStore
  const secrets = yield* SecretStore
  const settingsService = yield* Settings
  const provisioner = yield* MachineProvisioner
  const reporter = yield* Reporter
  const reader = yield* IssueReader
  const authorizer = yield* Authorizer
  const repoTokens = yield* RepoTokens
  const catalog = yield* AgentCatalog
  const parser = yield* CommandParser
  const prompts = yield* PromptBuilder
  const tokens = yield* TaskTokens
  const config = yield* PorterConfig

  const now = Clock.currentTimeMillis
  const reportSchedule = Schedule.max([
    Schedule.jittered(Schedule.exponential(config.reportRetry.baseDelayMs)),
    Schedule.recurs(config.reportRetry.times)
  ])

  const audit = (taskId: string, kind: string, detail?: string, extra: { from?: string; to?: string } = {}) =>
    Effect.flatMap(now, (at) =>
      store.appendEvent(new TaskEvent({ taskId, at, kind, ...extra, ...(detail !== undefined ? { detail } : {}) }))
    ).pipe(Effect.catch((error) => Effect.logWarning("audit trail write failed", { taskId, kind, error: error.message })))

  /** A report that may fail: retried with backoff, then logged and dropped. */
  const report = <A>(what: string, taskId: string | undefined, effect: Effect.Effect<A, { readonly message: string }>) =>
    effect.pipe(
      Effect.retry(reportSchedule),
      Effect.map(Option.some),
      Effect.catch((error) =>
        Effect.gen(function*() {
          yield* Effect.logWarning(`report failed: ${what}`, { taskId, error: error.message })
          if (taskId !== undefined) yield* audit(taskId, "report_failed", `${what}: ${error.message}`)
          return Option.none<A>()
        })
      )
    )

  const issueOf = (task: Task) => new IssueRef({ repo: task.repo, number: task.issueNumber })

  const settingsFor = (repo: RepoRef, installationId: number | undefined) =>
    settingsService.forRepo(repo.fullName, installationId)

  /** Brings the status comment (and labels) in line with the task's latest stored state. */
  const updateStatus = Effect.fn("Porter.updateStatus")(function*(taskId: TaskId) {
    const latest = yield* store.find(taskId)
    if (Option.isNone(latest)) return
    const task = latest.value
    const settings = yield* settingsFor(task.repo, task.installationId)
    const body = Messages.status(task, yield* now, settings.mentionName)
    const issue = issueOf(task)
    if (task.statusCommentId !== undefined) {
      yield* report("edit status comment", task.id, reporter.editComment(issue, task.statusCommentId, body))
    } else {
      const created = yield* report("create status comment", task.id, reporter.comment(issue, body))
      if (Option.isSome(created)) {
        yield* store.update(task.id, { statusCommentId: created.value }, yield* now, TaskState.literals).pipe(Effect.ignore)
      }
    }
    if (settings.stateLabels) {
      const label = `porter:${task.state}`
      const others = TaskState.literals
        .map((s) => `porter:${s}`)
        .filter((l) => l !== label)
      yield* report("labels", task.id, reporter.label(issue, { add: [label], remove: others }))
    }
  }, (effect) => Effect.catch(effect, (error) => Effect.logWarning("status update failed", { error: error.message })))

  /** Ends an active task in a terminal state; tells the issue; destroys its machine. */
  const finish = Effect.fn("Porter.finish")(function*(task: Task, to: TaskState, patch: TaskPatch) {
    const moved = yield* store.transition(task.id, to, yield* now, patch).pipe(
      Effect.map(Option.some),
      Effect.catchTags({
        IllegalTransition: () => Effect.succeed(Option.none<Task>()),
        TaskNotFound: () => Effect.succeed(Option.none<Task>())
      })
    )
    if (Option.isNone(moved)) return Option.none<Task>()
    const ended = moved.value
    // Tell the issue first: destroying the machine may end the very runner whose callback this is,
    // and with it the request we are answering.
    yield* updateStatus(ended.id)
    if (ended.machineId !== undefined) yield* destroyMachine(ended, ended.machineId)
    return moved
  })

  const credentialFor = (task: Task) =>
    Effect.gen(function*() {
      const name = provisioner.credentialName
      if (name === undefined) return undefined
      const secretName = decodeSecretName(name)
      if (Option.isNone(secretName)) return undefined
      const found = yield* secrets.resolve(secretName.value, chainOf(task))
      return Option.isSome(found) ? found.value.value : undefined
    })

  const destroyMachine = (task: Task, machineId: MachineId) =>
    Effect.gen(function*() {
      const credential = yield* credentialFor(task).pipe(Effect.orElseSucceed(() => undefined))
      yield* provisioner.destroy(machineId, credential ? { credential } : {})
      yield* audit(task.id, "machine_destroyed", machineId)
    }).pipe(
      Effect.retry(reportSchedule),
      Effect.catch((error) =>
        Effect.gen(function*() {
          yield* Effect.logWarning("destroying a machine failed; the orphan sweep will retry", {
            taskId: task.id,
            machineId,
            error: error.message
          })
          yield* audit(task.id, "machine_destroy_failed", `${machineId}: ${error.message}`)
        })
      )
    )

  const chainOf = (task: Task): SecretChain => ({
    userId: task.requestedBy.id,
    repo: task.repo.fullName,
    ...(task.installationId !== undefined ? { installationId: task.installationId } : {})
  })

  /** Agent secrets for a task: every required one, and the optional ones that are set. */
  const agentSecrets = (task: Task, agent: AgentSpec) =>
    Effect.gen(function*() {
      const env: Record<string, Redacted.Redacted<string>> = {}
      for (const requirement of agent.secrets) {
        let found = false
        for (const raw of requirement.names) {
          const name = decodeSecretName(raw)
          if (Option.isNone(name)) continue
          const value = yield* secrets.resolve(name.value, chainOf(task))
          if (Option.isSome(value)) {
            env[raw] = value.value.value
            found = true
            break
          }
        }
        if (!found && !requirement.optional) {
          return yield* new MissingSecret({ agent: agent.name, names: [...requirement.names], repo: task.repo.fullName })
        }
      }
      return env
    })

  /**
   * Provisions the task's machine, once. Safe to call again for a stuck task. `commented` is the first status
   * comment when it is still being made beside the dispatch: the status updates here wait for it (one status comment
   * per task), and so does the machine request (a machine's `started` callback updates that comment).
   */
  const dispatch = Effect.fn("Porter.dispatch")(function*(
    task: Task,
    issue: IssueSnapshot | undefined,
    commented: Effect.Effect<void> = Effect.void
  ) {
    // Status updates started and not waited for: the next one (and `finish`) waits for them, so edits land in order.
    let settled = commented
    const status: StatusLine = {
      commented,
      settled: Effect.suspend(() => settled),
      inBackground: (taskId) =>
        Effect.gen(function*() {
          const fiber = yield* Effect.forkChild(Effect.andThen(settled, updateStatus(taskId)))
          settled = Fiber.join(fiber)
        })
    }
    const fail = (failed: Task, patch: TaskPatch) => Effect.andThen(status.settled, finish(failed, "failed", patch))

    yield* Effect.gen(function*() {
      const claimed = yield* store.beginDispatch(task.id, task.dispatchAttempts, yield* now)
      if (Option.isNone(claimed)) return
      yield* provision(claimed.value, issue, status, fail)
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
          const transient = error._tag === "ProvisionError" && (error.reason === "rate_limited" || error.reason === "unavailable")
          if (transient && latest.value.dispatchAttempts < config.maxDispatchAttempts) {
            yield* audit(task.id, "dispatch_deferred", reason)
            return
          }
          yield* fail(latest.value, { reason })
        }).pipe(Effect.catch(() => Effect.void))
      ),
      Effect.andThen(status.settled)
    )
  })

  /** `dispatch` once the task is claimed: secrets, token, thread and prompt, then the machine. */
  const provision = Effect.fnUntraced(function*(
    current: Task,
    issue: IssueSnapshot | undefined,
    status: StatusLine,
    fail: (task: Task, patch: TaskPatch) => Effect.Effect<unknown, StoreError>
  ) {
    yield* Effect.annotateCurrentSpan({ taskId: current.id, attempt: current.dispatchAttempts })
    yield* audit(current.id, "dispatch", `attempt ${current.dispatchAttempts}`)

    const agent = catalog.resolve(current.agent)
    if (Option.isNone(agent)) {
      yield* fail(current, { reason: `no agent called \`${current.agent}\` is configured here` })
      return
    }
    // Independent reads, together: the agent's secrets, the machine's GitHub token, the provider credential (D1
    // and GitHub), and the thread for the prompt (GitHub; prompting without it when it cannot be read).
    const [prepared, thread] = yield* Effect.all([
      Effect.all({
        agentEnv: agentSecrets(current, agent.value),
        githubToken: repoTokens.mint(current.repo, current.installationId),
        callbackToken: tokens.issue(current.id),
        credential: credentialFor(current)
      }, { concurrency: "unbounded" }).pipe(Effect.result),
      reader.thread(issueOf(current), config.threadLimit, current.installationId).pipe(
        Effect.catch((error) =>
          Effect.as(Effect.logWarning("could not read the thread; prompting without it", { error: error.message }), [])
        )
      )
    ], { concurrency: "unbounded" })
    if (prepared._tag === "Failure") {
      const error = prepared.failure
      const reason = error._tag === "MissingSecret"
        ? error.message
        : error._tag === "TokenError"
        ? `could not get a GitHub token for the machine: ${error.message}`
        : error._tag === "SecretDecryptionFailed"
        ? error.message
        : `could not read secrets: ${error.message}`
      yield* fail(current, { reason })
      return
    }
    const { agentEnv, callbackToken, credential, githubToken } = prepared.success

    const snapshot = issue ?? new IssueSnapshot({ title: `#${current.issueNumber}`, body: "", state: "open" })
    const branch = branchFor(current)
    const prompt = yield* prompts.build({ task: current, issue: snapshot, thread, branch })

    if (current.state === "queued") {
      const moved = yield* store.transition(current.id, "provisioning", yield* now).pipe(
        Effect.catchTag("IllegalTransition", () => Effect.succeed(undefined))
      )
      if (moved === undefined) return
      // "Starting a machine" goes to the issue while the machine is requested.
      yield* status.inBackground(current.id)
    }

    const callOptions = credential ? { credential } : {}
    // Only a later attempt can find a machine of this task (a lost create answer, a dispatcher that died after its
    // create): the first attempt is the task's first dispatch (`beginDispatch` let exactly one caller make it).
    const found = current.dispatchAttempts <= 1 ? Option.none() : yield* provisioner.findByTask(current.id, callOptions).pipe(
      Effect.catch(() => Effect.succeed(Option.none()))
    )
    // A machine that failed to launch will never call back: remove it and make a new one.
    if (Option.isSome(found) && found.value.state === "failed") yield* destroyMachine(current, found.value.id)
    const existing = Option.filter(found, (machine) => machine.state !== "failed" && !isGone(machine.state))
    const spec: MachineSpec = {
      taskId: current.id,
      ...(config.machineImage !== undefined ? { image: config.machineImage } : {}),
      guest: config.guest,
      deadlineAt: current.deadlineAt,
      ...(config.region !== undefined ? { region: config.region } : {}),
      ...(credential !== undefined ? { credential } : {}),
      env: {
        ...config.machineEnv,
        TASK_ID: current.id,
        REPO_FULL_NAME: current.repo.fullName,
        REPO_CLONE_URL: `${config.gitBaseUrl.replace(/\/+$/, "")}/${current.repo.fullName}.git`,
        ...(current.baseBranch !== undefined ? { BASE_BRANCH: current.baseBranch } : {}),
        ...(current.headBranch !== undefined ? { HEAD_BRANCH: current.headBranch } : {}),
        BRANCH: branch,
        ISSUE_NUMBER: String(current.issueNumber),
        ISSUE_TITLE: snapshot.title,
        AGENT: current.agent,
        PROMPT: prompt,
        ...(current.model ?? agent.value.defaultModel
          ? { MODEL: (current.model ?? agent.value.defaultModel)! }
          : {}),
        GITHUB_API_URL: config.githubApiUrl,
        CALLBACK_URL: `${config.publicUrl}/callbacks/tasks/${current.id}`,
        TASK_DEADLINE: new Date(current.deadlineAt).toISOString(),
        HEARTBEAT_INTERVAL_MS: String(config.heartbeatIntervalMs),
        REQUESTED_BY: current.requestedBy.login
      },
      secretEnv: { ...agentEnv, GITHUB_TOKEN: githubToken, CALLBACK_TOKEN: callbackToken }
    }
    yield* status.commented
    const machine = Option.isSome(existing)
      ? existing.value
      : yield* provisioner.create(spec).pipe(
        Effect.tapError((error) => audit(current.id, "machine_failed", error.message))
      )
    yield* audit(current.id, "machine", `${machine.id}${Option.isSome(existing) ? " (found existing)" : ""}`)
    const recorded = yield* store.update(current.id, { machineId: machine.id }, yield* now, ["provisioning", "running"])
      .pipe(Effect.result)
    if (recorded._tag === "Failure") {
      // Cancelled or timed out while the machine was starting: it has no task to work for.
      yield* destroyMachine(current, machine.id)
      return
    }
    yield* status.settled
    yield* updateStatus(current.id)
  })

  const reply = (event: CommentCreated, body: string) =>
    report(
      "reply",
      undefined,
      reporter.comment(new IssueRef({ repo: event.repo, number: event.issueNumber }), body)
    ).pipe(Effect.asVoid)

  const startRun = Effect.fn("Porter.startRun")(function*(
    event: CommentCreated,
    run: Run,
    settings: RepoSettings,
    receivedAt: number,
    salt: string
  ) {
    const id = yield* taskIdFor(event.deliveryId, receivedAt, salt)
    const earlier = yield* store.find(id)
    if (Option.isSome(earlier)) return yield* resume(earlier.value, event)
    const activeInRepo = yield* store.countActive({ repo: event.repo.fullName })
    if (activeInRepo >= settings.maxActivePerRepo) {
      return yield* reply(event, Messages.limitReached(event.author.login, "repository", settings.maxActivePerRepo))
    }
    const activeForUser = yield* store.countActive({ userId: event.author.id })
    if (activeForUser >= settings.maxActivePerUser) {
      return yield* reply(event, Messages.limitReached(event.author.login, "user", settings.maxActivePerUser))
    }
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
    if (headRepo !== undefined && headRepo.toLowerCase() !== event.repo.fullName.toLowerCase()) {
      // A fork's branch cannot be pushed with this repository's token (and its name may well be this
      // repository's default branch): work on a new branch of this repository instead, based on the PR's base.
      headBranch = undefined
    }
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
    const created = yield* store.create(task).pipe(
      Effect.as(true),
      Effect.catchTag("TaskAlreadyExists", () => Effect.succeed(false))
    )
    if (created) yield* audit(task.id, "created", `${run.agent} for @${event.author.login} (delivery ${event.deliveryId})`)
    yield* resume(yield* store.get(task.id), event)
  })

  /**
   * Acknowledges and dispatches a recorded task — also one that a retried delivery finds already made
   * (its limits were checked when it was made, and what was done then is not done twice).
   */
  const resume = Effect.fnUntraced(function*(task: Task, event: CommentCreated) {
    const acknowledge = task.statusCommentId === undefined
    // Neither the 👀 reaction nor the first status comment holds up the dispatch; the machine waits for the comment.
    const reaction = acknowledge
      ? yield* Effect.forkChild(report(
        "reaction",
        task.id,
        reporter.react(new IssueRef({ repo: event.repo, number: event.issueNumber }), {
          kind: event.kind,
          commentId: event.commentId
        }, "eyes")
      ))
      : undefined
    if (task.state === "queued" && task.dispatchAttempts === 0) {
      const comment = acknowledge ? yield* Effect.forkChild(updateStatus(task.id)) : undefined
      yield* dispatch(task, event.issue, comment === undefined ? Effect.void : Fiber.join(comment))
    } else if (acknowledge) {
      yield* updateStatus(task.id)
    }
    if (reaction !== undefined) yield* Fiber.join(reaction)
  })

  const authorize = (event: CommentCreated, settings: RepoSettings) =>
    Effect.gen(function*() {
      const login = event.author.login.toLowerCase()
      if (settings.deniedUsers.some((u) => u.toLowerCase() === login)) {
        return { allowed: false as const, reason: "you are on this repository's deny list" }
      }
      if (settings.allowedUsers.length > 0 && !settings.allowedUsers.some((u) => u.toLowerCase() === login)) {
        return { allowed: false as const, reason: "you are not on this repository's allow list" }
      }
      const decision = yield* authorizer.authorize(event.repo, event.author, event.installationId)
      return decision.allowed ? { allowed: true as const } : { allowed: false as const, reason: decision.reason }
    })

  const cancelIssue = Effect.fn("Porter.cancelIssue")(function*(issue: IssueRef, reason: string) {
    const active = yield* store.listActive({ repo: issue.repo.fullName, issueNumber: issue.number })
    let count = 0
    for (const task of active) {
      const ended = yield* finish(task, "cancelled", { reason })
      if (Option.isSome(ended)) count++
    }
    return count
  })

  const onComment = Effect.fn("Porter.onComment")(function*(event: CommentCreated, receivedAt: number) {
    const settings = yield* settingsFor(event.repo, event.installationId)
    const parsed = parser.parse(event.body, settings)
    if (parsed._tag === "NotForPorter") return
    const allowed = yield* authorize(event, settings).pipe(
      Effect.catchTag("AuthorizationError", (error) =>
        Effect.succeed({ allowed: false as const, reason: `Porter could not check your permission (${error.message})` }))
    )
    if (!allowed.allowed) return yield* reply(event, Messages.refused(event.author.login, allowed.reason))
    const issue = new IssueRef({ repo: event.repo, number: event.issueNumber })
    switch (parsed._tag) {
      case "Problem":
        return yield* reply(event, Messages.problem(parsed.message))
      case "Help":
        return yield* reply(event, Messages.help(settings, catalog.list))
      case "Status": {
        const tasks = yield* store.listByIssue(event.repo.fullName, event.issueNumber, 20)
        return yield* reply(event, Messages.statusList(tasks, yield* now))
      }
      case "Cancel": {
        const count = yield* cancelIssue(issue, `cancelled by @${event.author.login}`)
        return yield* reply(event, count === 0 ? Messages.nothingToCancel() : Messages.cancelled(count))
      }
      case "Retry": {
        const [latest] = yield* store.listByIssue(event.repo.fullName, event.issueNumber, 1)
        if (latest === undefined) return yield* reply(event, Messages.nothingToRetry())
        if (!latest.isTerminal) {
          return yield* reply(
            event,
            Messages.problem(`Task \`${latest.id}\` is still ${latest.state}; \`@${settings.mentionName} cancel\` it first.`)
          )
        }
        const run = new Run({
          agent: latest.agent,
          instructions: latest.instructions,
          timeoutMs: latest.timeoutMs,
          ...(latest.model !== undefined ? { model: latest.model } : {})
        })
        return yield* startRun(event, run, settings, receivedAt, "retry")
      }
      case "Run":
        return yield* startRun(event, parsed, settings, receivedAt, "")
    }
  })

  const process = Effect.fn("Porter.process")(function*(event: IncomingEvent, receivedAt: number) {
    yield* Effect.annotateCurrentSpan({ deliveryId: event.deliveryId, event: event._tag })
    if (event._tag === "CommentCreated") yield* onComment(event, receivedAt)
    else {
      yield* cancelIssue(
        new IssueRef({ repo: event.repo, number: event.issueNumber }),
        `the ${"issue"} was closed by @${event.actor.login}`
      )
    }
    yield* store.completeDelivery(event.deliveryId, yield* now)
  }, (effect, event) =>
    Effect.catchCause(effect, (cause) =>
      Effect.logError("handling a delivery failed; the sweep will retry it", {
        deliveryId: event.deliveryId,
        cause
      })))

  // The intake runs before every webhook's answer: untraced (a span costs more than the work), no generators.
  const isForPorter = (event: IncomingEvent): Effect.Effect<string | undefined, StoreError> => {
    if (event._tag === "IssueClosed") {
      return Effect.map(
        store.countActive({ repo: event.repo.fullName, issueNumber: event.issueNumber }),
        (active) => (active > 0 ? undefined : "no active task on this issue")
      )
    }
    if (event.author.isBot) return Effect.succeed("comment by a bot")
    if (event.body.includes(Messages.MARKER_PREFIX)) return Effect.succeed("comment by Porter")
    return Effect.map(
      settingsFor(event.repo, event.installationId),
      (settings) => (parser.parse(event.body, settings)._tag === "NotForPorter" ? "not addressed to Porter" : undefined)
    )
  }

  // The stored payload is the event's JSON: the event classes hold plain fields only, so this is exactly what
  // encoding with `IncomingEventFromJson` gives (and what `decodeEvent` reads back), without the encoder's cost.
  const claim = (event: IncomingEvent): Effect.Effect<Intake, StoreError> =>
    Effect.flatMap(now, (receivedAt) =>
      Effect.map(
        store.claimDelivery({ id: event.deliveryId, receivedAt, payload: JSON.stringify(event) }),
        (first): Intake => (first ? { _tag: "Accepted", receivedAt } : { _tag: "Ignored", reason: "duplicate delivery" })
      ))

  const intake = (event: IncomingEvent): Effect.Effect<Intake, StoreError> =>
    Effect.flatMap(isForPorter(event), (ignored) =>
      ignored !== undefined ? Effect.succeed<Intake>({ _tag: "Ignored", reason: ignored }) : claim(event))

  const handle = (event: IncomingEvent) =>
    Effect.tap(intake(event), (result) => (result._tag === "Accepted" ? process(event, result.receivedAt) : Effect.void))

  const onCompleted = (task: Task, event: CompletedEvent) => {
    const succeeded = event.outcome === "pushed" || event.outcome === "no_changes"
    const reason = event.outcome === "agent_failed"
      ? `the agent exited with an error${event.error ? ` (${event.error})` : ""}`
      : event.outcome === "error"
      ? event.error ?? "the runner hit an error"
      : undefined
    const patch: TaskPatch = {
      outcome: event.outcome,
      ...(event.branch !== undefined ? { branch: event.branch } : {}),
      ...(event.commitSha !== undefined ? { commitSha: event.commitSha } : {}),
      ...(event.prUrl !== undefined ? { prUrl: event.prUrl } : {}),
      ...(event.summary !== undefined ? { summary: event.summary } : {}),
      ...(event.usage !== undefined ? { usage: event.usage } : {}),
      ...(event.logTail !== undefined ? { logTail: event.logTail } : {}),
      ...(reason !== undefined ? { reason } : {})
    }
    return finish(task, succeeded ? "succeeded" : "failed", patch)
  }

  const callback = Effect.fn("Porter.callback")(function*(taskId: string, bearer: string | undefined, body: string) {
    const id = Schema.decodeUnknownOption(TaskId)(taskId)
    // Verify before any read: an unknown id and a wrong token look the same from outside.
    if (bearer === undefined || Option.isNone(id) || !(yield* tokens.verify(taskId, bearer))) {
      return yield* new CallbackUnauthorized({ message: "missing or wrong task token" })
    }
    const event: CallbackEvent = yield* decodeCallback(body).pipe(
      Effect.mapError((error) => new CallbackMalformed({ message: error.message.slice(0, 500) }))
    )
    const task = yield* store.get(id.value)
    yield* audit(task.id, "callback", event.type === "completed" ? `completed: ${event.outcome}` : event.type)
    if (task.isTerminal) {
      return { accepted: false, state: task.state, message: `task is already ${task.state}` } satisfies CallbackAnswer
    }
    const at = yield* now
    switch (event.type) {
      case "started":
      case "heartbeat": {
        if (task.state === "provisioning") {
          const moved = yield* store.transition(task.id, "running", at, { heartbeatAt: at }).pipe(Effect.option)
          if (Option.isSome(moved)) yield* updateStatus(task.id)
          return { accepted: true, state: Option.isSome(moved) ? "running" : task.state } satisfies CallbackAnswer
        }
        const updated = yield* store.update(task.id, { heartbeatAt: at }, at).pipe(Effect.result)
        return updated._tag === "Success"
          ? { accepted: true, state: updated.success.state }
          : { accepted: false, state: isTerminalError(updated.failure) ?? task.state, message: "task has ended" }
      }
      case "completed": {
        const ended = yield* onCompleted(task, event)
        if (Option.isSome(ended)) return { accepted: true, state: ended.value.state } satisfies CallbackAnswer
        const latest = yield* store.get(task.id)
        return { accepted: false, state: latest.state, message: `task is already ${latest.state}` } satisfies CallbackAnswer
      }
    }
  })

  const isTerminalError = (error: unknown): TaskState | undefined =>
    error instanceof IllegalTransition && isTerminal(error.from as TaskState) ? (error.from as TaskState) : undefined

  const timeOut = (task: Task, reason: string) => finish(task, "timed_out", { reason })

  const sweepTask = (task: Task, at: number) =>
    Effect.gen(function*() {
      if (at >= task.deadlineAt) {
        const ended = yield* timeOut(task, `the time limit (${Messages.formatDuration(task.timeoutMs)}) ran out`)
        return Option.isSome(ended) ? "timedOut" as const : "none" as const
      }
      if (task.state === "running") {
        const last = task.heartbeatAt ?? task.startedAt ?? task.updatedAt
        if (last <= at - config.heartbeatTimeoutMs) {
          const ended = yield* timeOut(
            task,
            `the machine stopped reporting (no heartbeat for ${Messages.formatDuration(at - last)})`
          )
          return Option.isSome(ended) ? "timedOut" as const : "none" as const
        }
        return "none" as const
      }
      // queued or provisioning, untouched for a while: its dispatcher may have died.
      if (task.machineId !== undefined) {
        const credential = yield* credentialFor(task).pipe(Effect.orElseSucceed(() => undefined))
        const machine = yield* provisioner.get(task.machineId, credential ? { credential } : {}).pipe(Effect.option)
        if (Option.isSome(machine) && !isGone(machine.value.state) && machine.value.state !== "failed") {
          // Alive but silent: leave it to the heartbeat and the deadline.
          yield* store.update(task.id, {}, at, ["provisioning"]).pipe(Effect.ignore)
          return "none" as const
        }
        if (Option.isSome(machine) && machine.value.state === "failed") yield* destroyMachine(task, task.machineId)
      }
      if (task.dispatchAttempts >= config.maxDispatchAttempts) {
        const ended = yield* finish(task, "failed", {
          reason: `no machine could be started after ${task.dispatchAttempts} attempts`
        })
        return Option.isSome(ended) ? "failed" as const : "none" as const
      }
      yield* audit(task.id, "sweep", "dispatching again")
      yield* dispatch(task, undefined)
      return "redispatched" as const
    }).pipe(
      Effect.catch((error) =>
        Effect.as(Effect.logWarning("sweeping a task failed", { taskId: task.id, error: error.message }), "none" as const)
      )
    )

  /** The deployment-wide provider credential (global scope), for calls that belong to no user. */
  const globalCredential = Effect.gen(function*() {
    const name = provisioner.credentialName === undefined ? Option.none() : decodeSecretName(provisioner.credentialName)
    if (Option.isNone(name)) return {}
    const found = yield* secrets.resolve(name.value, {}).pipe(Effect.orElseSucceed(() => Option.none()))
    return Option.isSome(found) ? { credential: found.value.value } : {}
  })

  const sweepOrphans = (at: number) =>
    Effect.gen(function*() {
      const options = yield* globalCredential
      const machines = yield* provisioner.list(options)
      let destroyed = 0
      for (const machine of machines) {
        if (isGone(machine.state)) continue
        if (machine.createdAt !== undefined && machine.createdAt > at - config.orphanGraceMs) continue
        const taskId = machine.taskId === undefined ? Option.none() : Schema.decodeUnknownOption(TaskId)(machine.taskId)
        const task = Option.isSome(taskId) ? yield* store.find(taskId.value) : Option.none<Task>()
        const live = Option.isSome(task) && !task.value.isTerminal && (task.value.machineId ?? machine.id) === machine.id
        if (live) continue
        yield* provisioner.destroy(machine.id, options).pipe(
          Effect.tap(() => Effect.logInfo("destroyed an orphan machine", { machineId: machine.id, taskId: machine.taskId })),
          Effect.tap(() => (Option.isSome(task) ? audit(task.value.id, "orphan_destroyed", machine.id) : Effect.void)),
          Effect.tap(() => Effect.sync(() => destroyed++)),
          Effect.catch((error) => Effect.logWarning("could not destroy an orphan", { machineId: machine.id, error: error.message }))
        )
      }
      return destroyed
    }).pipe(
      Effect.catch((error) => Effect.as(Effect.logWarning("orphan sweep failed", { error: error.message }), 0))
    )

  const retryDeliveries = (at: number) =>
    Effect.gen(function*() {
      const pending = yield* store.retryDeliveries(at - config.deliveryRetryAfterMs, 50)
      let retried = 0
      for (const delivery of pending) {
        const event = yield* decodeEvent(delivery.payload).pipe(Effect.option)
        if (Option.isNone(event) || delivery.attempts > config.maxDeliveryAttempts) {
          yield* Effect.logWarning("giving up on a delivery", { deliveryId: delivery.id, attempts: delivery.attempts })
          yield* store.completeDelivery(delivery.id, at)
          continue
        }
        yield* process(event.value, delivery.receivedAt)
        retried++
      }
      return retried
    }).pipe(
      Effect.catch((error) => Effect.as(Effect.logWarning("delivery retry failed", { error: error.message }), 0))
    )

  const sweep = Effect.gen(function*() {
    const at = yield* now
    const due = yield* store.listDue(at, {
      heartbeatTimeoutMs: config.heartbeatTimeoutMs,
      dispatchTimeoutMs: config.dispatchTimeoutMs,
      limit: 500
    }).pipe(Effect.catch((error) => Effect.as(Effect.logError("listing due tasks failed", { error: error.message }), [])))
    const outcomes = yield* Effect.forEach(due, (task) => sweepTask(task, at), { concurrency: 8 })
    const orphansDestroyed = yield* sweepOrphans(at)
    const deliveriesRetried = yield* retryDeliveries(at)
    const count = (kind: string) => outcomes.filter((o) => o === kind).length
    const result: SweepReport = {
      checked: due.length,
      timedOut: count("timedOut"),
      redispatched: count("redispatched"),
      failed: count("failed"),
      orphansDestroyed,
      deliveriesRetried
    }
    if (due.length > 0 || orphansDestroyed > 0 || deliveriesRetried > 0) yield* Effect.logInfo("sweep", result)
    return result
  }).pipe(Effect.withSpan("Porter.sweep"))

  const view = Effect.fn("Porter.view")(function*(taskId: string, bearer: string | undefined, isAdmin: boolean) {
    const id = Schema.decodeUnknownOption(TaskId)(taskId)
    if (Option.isNone(id)) return yield* new TaskNotFound({ taskId: taskId.slice(0, 64) })
    if (!isAdmin && (bearer === undefined || !(yield* tokens.verify(taskId, bearer)))) {
      return yield* new CallbackUnauthorized({ message: "missing or wrong token" })
    }
    return toView(yield* store.get(id.value))
  })

  const cancelTask = Effect.fn("Porter.cancelTask")(function*(taskId: TaskId, reason: string) {
    const task = yield* store.get(taskId)
    if (task.isTerminal) return false
    return Option.isSome(yield* finish(task, "cancelled", { reason }))
  })

  return Porter.of({ intake, process, handle, callback, sweep, cancelIssue, cancelTask, view })
})

export const layer = Layer.effect(Porter, make)

/** Generates a fresh random task-token secret (for local setups that have none configured). */
export const randomSecret = (): Redacted.Redacted<string> => Redacted.make(randomToken(32))

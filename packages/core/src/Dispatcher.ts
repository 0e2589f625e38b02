/**
 * Dispatcher: from a run request to a machine. It records the task (queued, or awaiting approval for an outsider's
 * request), acknowledges it on the issue (👀 and the status comment, beside the rest), admits it when a slot is free
 * (`Queue`: oldest first, within the active-task limits), gathers what the machine needs (`MachineInputs`: secrets, the
 * task credential, the prompt, the repository's `.github/porter.yml`) and asks the provisioner for the machine.
 *
 * Guarantees: one task per comment, however often and under whatever delivery ids it is delivered (task ids derive
 * from the delivery, and a task's `requestKey` — its comment — is unique); never two machines for a task (a dispatch
 * begins with a compare-and-set, and a later attempt asks `findByTask` first); one status comment per task, written
 * once per state, and the machine is requested only once it exists (its callbacks edit it).
 *
 * A continuation (`@porter continue`) works on the branch of the task it continues (when that one made one) and, when
 * its agent's CLI can resume a session and that task's session was kept, resumes it (`RESUME_SESSION`: the runner
 * fetches it; the prompt is only what is asked now); else it starts afresh with that task's summary and diff in the
 * prompt. The task records which (`resumed`), and its status comment says so.
 */
import { Clock, Context, Effect, Fiber, Layer, Option, Result } from "effect"
import { AgentCatalog } from "./AgentCatalog.ts"
import { Audit } from "./Audit.ts"
import type { Run } from "./Command.ts"
import type { StoreError } from "./Errors.ts"
import type { CommentCreated } from "./Event.ts"
import { randomToken, taskIdFor } from "./Ids.ts"
import { IssueReader } from "./IssueReader.ts"
import { MachineAccess } from "./MachineAccess.ts"
import { type AtHand, MachineInputs } from "./MachineInputs.ts"
import { MachineProvisioner } from "./MachineProvisioner.ts"
import * as Messages from "./Messages.ts"
import { UsageStore } from "./ModelUsage.ts"
import * as NewTasks from "./NewTasks.ts"
import { PorterConfig } from "./PorterConfig.ts"
import { Queue } from "./Queue.ts"
import { type Actor, IssueRef } from "./Repo.ts"
import * as RepoConfig from "./RepoConfig.ts"
import { Reports } from "./Reports.ts"
import type { RepoSettings } from "./Settings.ts"
import { StatusComments } from "./StatusComments.ts"
import * as StatusLine from "./StatusLine.ts"
import type { Task, TaskPatch } from "./Task.ts"
import { TaskLifecycle } from "./TaskLifecycle.ts"
import { TaskStore } from "./TaskStore.ts"

/** A comment's request for a run, authorized and parsed. */
export interface RunRequest {
  readonly event: CommentCreated
  readonly run: Run
  readonly settings: RepoSettings
  readonly receivedAt: number
  /** Distinguishes the tasks one delivery may make (`retry` makes a second one). */
  readonly salt: string
  /** Asked by someone without write access, where the repository wants approvals: the task awaits approval. */
  readonly awaitingApproval?: boolean
  /** `@porter continue`: the ended task this one picks up from. */
  readonly continues?: Task
}

/** From a run request to a machine. */
export class Dispatcher extends Context.Service<Dispatcher, {
  /**
   * Records the task a request asks for, acknowledges it and dispatches it when a slot is free (else it waits in the
   * queue); a request `.github/porter.yml` does not allow is answered.
   */
  readonly start: (request: RunRequest) => Effect.Effect<void, StoreError>
  /** Dispatches a recorded task again (the watchdog, for a dispatch that never finished). Never fails. */
  readonly redispatch: (task: Task) => Effect.Effect<void>
  /**
   * Runs an ended task again as a new task of the same issue, for `by` (the admin API, the web app): queued, and
   * started at once when a slot is free. The task as it stands afterwards.
   */
  readonly retry: (previous: Task, by: Actor) => Effect.Effect<Option.Option<Task>, StoreError>
}>()("@porter/core/Dispatcher") {}

/** The `Dispatcher` service, built from its dependencies in the context. */
export const make = Effect.gen(function*() {
  const store = yield* TaskStore
  const provisioner = yield* MachineProvisioner
  const reader = yield* IssueReader
  const catalog = yield* AgentCatalog
  const config = yield* PorterConfig
  const status = yield* StatusComments
  const reports = yield* Reports
  const lifecycle = yield* TaskLifecycle
  const machines = yield* MachineAccess
  const audit = yield* Audit
  const usage = yield* UsageStore
  const inputs = yield* MachineInputs
  const queue = yield* Queue
  const now = Clock.currentTimeMillis

  /** `dispatch` once the task is claimed: the machine's inputs, then the machine. */
  const provision = Effect.fnUntraced(function*(
    task: Task,
    atHand: AtHand | undefined,
    line: StatusLine.StatusLine,
    fail: (reason: string) => Effect.Effect<unknown, StoreError>
  ) {
    const prepared = yield* inputs.prepare(task, atHand)
    if (prepared._tag === "Refused") return yield* fail(prepared.reason)
    const { credential, spec } = prepared
    const options = credential !== undefined ? { credential } : {}
    // Only a later attempt can find a machine of this task (a lost create answer, a dispatcher that died after its
    // create): the first attempt is the task's first dispatch (`beginDispatch` let exactly one caller make it). A
    // lookup that fails fails this attempt (a transient failure is tried again by the sweep): creating a machine
    // without knowing could make a second one.
    const existing = task.dispatchAttempts <= 1 ? Option.none() : yield* provisioner.findByTask(task.id, options)
    yield* line.commented
    const machine = Option.isSome(existing)
      ? existing.value
      : yield* provisioner.create(spec).pipe(
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
    atHand: AtHand | undefined,
    first?: Fiber.Fiber<Option.Option<number>>
  ) {
    const line = StatusLine.make(status, first, task)
    const fail = (failed: Task, patch: TaskPatch) =>
      Effect.andThen(line.settled, Effect.suspend(() => lifecycle.finish(line.withComment(failed), "failed", patch)))

    yield* Effect.gen(function*() {
      const claimed = yield* store.beginDispatch(task.id, task.dispatchAttempts, yield* now)
      if (Option.isNone(claimed)) return
      // "Starting a machine" goes to the issue (once) while the machine is being prepared and requested.
      if (task.dispatchAttempts === 0) yield* line.show(claimed.value)
      yield* provision(claimed.value, atHand, line, (reason) => fail(claimed.value, { reason }))
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
   * How a task another caller admitted starts. One still without its status comment is left to whoever recorded it
   * (it shows the comment first, then starts the task; if it died, the sweep starts the task later).
   */
  const startAdmitted = (task: Task) =>
    task.statusCommentId === undefined && task.dispatchAttempts === 0 ? Effect.void : dispatch(task, undefined)
  yield* queue.startWith(startAdmitted)

  /**
   * Admits what fits of `task`'s repository's queue (oldest first) and starts it: `task` itself with its first status
   * comment (`first`) and the issue at hand; the others in the background of this call. `false` when `task` waits.
   */
  const admit = Effect.fnUntraced(function*(
    task: Task,
    atHand: AtHand | undefined,
    first: Fiber.Fiber<Option.Option<number>> | undefined
  ) {
    const admitted = yield* queue.admit(task.repo.fullName, task)
    const others = admitted.filter((t) => t.id !== task.id)
    const rest = yield* Effect.forkChild(Effect.forEach(others, startAdmitted, { concurrency: "unbounded" }))
    let own = admitted.find((t) => t.id === task.id)
    if (own === undefined && first !== undefined) {
      // Waiting, or admitted by another caller before its comment was recorded (which left it to this one): once the
      // comment is recorded, whoever admits the task starts it.
      yield* Fiber.join(first)
      const latest = yield* store.find(task.id)
      if (Option.isSome(latest) && latest.value.state === "queued") {
        yield* status.show(latest.value, { queuePosition: yield* queue.position(latest.value) })
      }
      own = Option.getOrUndefined(
        Option.filter(latest, (t) => t.state === "provisioning" && t.dispatchAttempts === 0)
      )
    }
    if (own !== undefined) yield* dispatch(own, atHand, first)
    yield* Fiber.join(rest)
    return own !== undefined
  })

  /**
   * Acknowledges a recorded task and dispatches it when a slot is free — also one that a retried delivery finds
   * already made (what was done then is not done twice).
   */
  const resume = Effect.fnUntraced(function*(task: Task, event: CommentCreated, config: RepoConfig.Loaded) {
    const acknowledge = task.statusCommentId === undefined
    const issue = new IssueRef({ repo: event.repo, number: event.issueNumber })
    // Neither the 👀 reaction nor the first status comment holds up the dispatch; the machine waits for the comment.
    const reaction = acknowledge
      ? yield* Effect.forkChild(
        reports.react(issue, { kind: event.kind, commentId: event.commentId }, "eyes", task.id)
      )
      : undefined
    if ((task.state === "queued" || task.state === "provisioning") && task.dispatchAttempts === 0) {
      const first = acknowledge ? yield* Effect.forkChild(status.show(task)) : undefined
      yield* admit(task, { issue: event.issue, config }, first)
    } else if (acknowledge) {
      yield* status.show(task)
    }
    if (reaction !== undefined) yield* Fiber.join(reaction)
  })

  const start = Effect.fn("Dispatcher.start")(function*(request: RunRequest) {
    const { event, run, settings } = request
    const reply = (body: string) => reports.reply(new IssueRef({ repo: event.repo, number: event.issueNumber }), body)
    const id = yield* taskIdFor(event.deliveryId, request.receivedAt, request.salt)
    const branches = yield* NewTasks.branches(event, reader)
    // A continuation works on the branch of the task it continues, when that one made one.
    const { baseBranch, headBranch } = request.continues?.branch !== undefined
      ? { baseBranch: request.continues.baseBranch ?? branches.baseBranch, headBranch: request.continues.branch }
      : branches
    // The repository's own configuration, from the base branch (never one the agent or a fork's author writes).
    const loaded = yield* RepoConfig.read(reader, event.repo, baseBranch, event.installationId).pipe(Effect.result)
    if (Result.isFailure(loaded)) return yield* reply(Messages.repoConfigProblem(loaded.failure.message))
    const resolved = RepoConfig.resolve(
      loaded.success,
      {
        agent: run.defaultAgent === true ? undefined : run.agent,
        model: run.model,
        timeoutMs: run.timeoutMs,
        budgetUsd: run.budgetUsd
      },
      settings,
      catalog.resolve
    )
    if (resolved._tag === "Problem") return yield* reply(Messages.repoConfigProblem(resolved.message))
    const awaitingApproval = request.awaitingApproval === true
    const task = NewTasks.fromRequest({
      id,
      event,
      run,
      resolved: resolved.value,
      baseBranch,
      headBranch,
      awaitingApproval,
      at: yield* now,
      waitMs: awaitingApproval ? config.approvalTimeoutMs : config.queueTimeoutMs,
      ...(request.continues !== undefined ? { continuesFrom: request.continues.id } : {})
    })
    // The request's own budget, kept beside the gateway's usage (the gateway reads it with the task's spend).
    if (resolved.value.budgetUsd !== undefined) yield* usage.setBudget(id, resolved.value.budgetUsd)
    const created = yield* store.create(task)
    if (created._tag === "OverLimit") return
    // The same comment under another delivery id (an App's hook and a repository's): that delivery's handling does
    // the rest (and the sweep retries it if it dies).
    if (created._tag === "Exists" && created.task.deliveryId !== event.deliveryId) return
    yield* resume(created.task, event, loaded.success)
  })

  const redispatch = (task: Task) => dispatch(task, undefined)

  const retry = Effect.fn("Dispatcher.retry")(function*(previous: Task, by: Actor) {
    const at = yield* now
    const id = yield* taskIdFor(previous.deliveryId, at, `retry:${at}:${randomToken(8)}`)
    const created = yield* store.create(NewTasks.again(previous, by, id, at, config.queueTimeoutMs))
    if (created._tag !== "Created") return Option.none<Task>()
    const budget = yield* usage.budget(previous.id)
    if (budget !== undefined) yield* usage.setBudget(created.task.id, budget)
    yield* admit(created.task, undefined, yield* Effect.forkChild(status.show(created.task)))
    return yield* store.find(created.task.id)
  })

  return Dispatcher.of({ start, redispatch, retry })
})

/** `Dispatcher` as a layer (`make`). */
export const layer: Layer.Layer<
  Dispatcher,
  never,
  | TaskStore
  | MachineProvisioner
  | MachineInputs
  | IssueReader
  | AgentCatalog
  | PorterConfig
  | StatusComments
  | Reports
  | TaskLifecycle
  | MachineAccess
  | Audit
  | Queue
  | UsageStore
> = Layer.effect(Dispatcher, make)

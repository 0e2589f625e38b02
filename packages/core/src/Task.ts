/**
 * Tasks and their state machine. A task is one request to run an agent on one issue.
 *
 *   (awaiting_approval →) queued → provisioning → running → succeeded | failed | timed_out | cancelled
 *
 * An outsider's request starts `awaiting_approval` (when the repository asks for approvals) and is queued once someone
 * with write access approves it. A queued task waits for a slot (`SlotStates`: the active-task limits count those) and
 * moves to `provisioning` when it is admitted. Any non-terminal state may also end directly in failed, timed_out or
 * cancelled (a missing secret fails a queued task; a provisioning machine can time out; a denied or expired approval
 * cancels). Terminal states never change.
 */
import { Effect, Schema } from "effect"
import { IllegalTransition } from "./Errors.ts"
import { DeliveryId, MachineId, TaskId } from "./Ids.ts"
import { Actor, RepoRef } from "./Repo.ts"

/** A task's state, from awaiting approval to one of its four ends. */
export const TaskState = Schema.Literals([
  "awaiting_approval",
  "queued",
  "provisioning",
  "running",
  "succeeded",
  "failed",
  "timed_out",
  "cancelled"
])
/** A task's state, from awaiting approval to one of its four ends. */
export type TaskState = typeof TaskState.Type

/** The states a task ends in. */
export const TerminalStates: ReadonlyArray<TaskState> = ["succeeded", "failed", "timed_out", "cancelled"]
/** The states of a task that has not ended. */
export const ActiveStates: ReadonlyArray<TaskState> = ["awaiting_approval", "queued", "provisioning", "running"]
/** The states that hold one of the slots the active-task limits count: a machine is being made for the task, or runs. */
export const SlotStates: ReadonlyArray<TaskState> = ["provisioning", "running"]

/** Whether `state` is an end. */
export const isTerminal = (state: TaskState): boolean => TerminalStates.includes(state)
/** Whether `state` is not an end. */
export const isActive = (state: TaskState): boolean => !isTerminal(state)
/** Does a task in `state` hold one of the slots the active-task limits count? */
export const holdsSlot = (state: TaskState): boolean => SlotStates.includes(state)

const edges: Record<TaskState, ReadonlyArray<TaskState>> = {
  awaiting_approval: ["queued", "failed", "timed_out", "cancelled"],
  queued: ["provisioning", "failed", "timed_out", "cancelled"],
  provisioning: ["running", "succeeded", "failed", "timed_out", "cancelled"],
  running: ["succeeded", "failed", "timed_out", "cancelled"],
  succeeded: [],
  failed: [],
  timed_out: [],
  cancelled: []
}

/** May a task move from `from` to `to`? Staying in a state is not a transition. */
export const canTransition = (from: TaskState, to: TaskState): boolean => edges[from].includes(to)

/**
 * The states a task may be in for a move to `to` to be legal: what a conditional update's
 * `WHERE state IN (…)` uses, so a store never moves a task along an illegal edge.
 */
export const sourcesOf = (to: TaskState): ReadonlyArray<TaskState> =>
  TaskState.literals.filter((from) => canTransition(from, to))

/** How the runner's work ended (the `completed` callback's `outcome`). */
export const Outcome = Schema.Literals(["pushed", "no_changes", "agent_failed", "error"])
export type Outcome = typeof Outcome.Type

/** Token and cost figures, when the agent reports them. */
// Bounded: the figures come from the machine, and a budget must not be gamed with a negative or absurd count.
const Count = Schema.Number.pipe(
  Schema.check(Schema.isBetween({ minimum: 0, maximum: 1e12 }, { expected: "a count between 0 and 10^12" }))
)

/** What a task's model calls used: tokens and cost. */
export class Usage extends Schema.Class<Usage>("@porter/core/Usage")({
  inputTokens: Schema.optional(Count),
  outputTokens: Schema.optional(Count),
  cacheReadTokens: Schema.optional(Count),
  cacheWriteTokens: Schema.optional(Count),
  costUsd: Schema.optional(
    Schema.Number.pipe(
      Schema.check(Schema.isBetween({ minimum: 0, maximum: 1e6 }, { expected: "USD between 0 and 10^6" }))
    )
  ),
  durationMs: Schema.optional(Count),
  turns: Schema.optional(Count)
}) {}

/**
 * What a task is for: `change` (the default) proposes changes for a pull request; `ask` answers a question read-only
 * (no branch, no pull request: the answer is the status comment's final text); `fix_ci` is a change to a pull
 * request's branch that makes its failing checks pass (the checks' logs are read for its prompt at dispatch).
 */
export const TaskMode = Schema.Literals(["change", "ask", "fix_ci"])
export type TaskMode = typeof TaskMode.Type

/** Where a request came from: a comment on an issue or pull request, or a review comment on a PR line. */
export const TriggerKind = Schema.Literals(["issue_comment", "review_comment"])
export type TriggerKind = typeof TriggerKind.Type

/** One run of an agent on one issue or pull request, from the request to its end. */
export class Task extends Schema.Class<Task>("@porter/core/Task")({
  id: TaskId,
  state: TaskState,
  repo: RepoRef,
  issueNumber: Schema.Int,
  isPullRequest: Schema.Boolean,
  installationId: Schema.optional(Schema.Int),
  requestedBy: Actor,
  triggerKind: TriggerKind,
  triggerCommentId: Schema.Int,
  deliveryId: DeliveryId,
  agent: Schema.String,
  model: Schema.optional(Schema.String),
  instructions: Schema.String,
  /** The branch the work starts from; unset means the repository's default branch. */
  baseBranch: Schema.optional(Schema.String),
  /** Set for follow-ups on a pull request: the runner works on (and pushes to) this branch. */
  headBranch: Schema.optional(Schema.String),
  timeoutMs: Schema.Int,
  createdAt: Schema.Number,
  updatedAt: Schema.Number,
  /** Epoch millis after which the watchdog ends the task `timed_out`. */
  deadlineAt: Schema.Number,
  heartbeatAt: Schema.optional(Schema.Number),
  startedAt: Schema.optional(Schema.Number),
  finishedAt: Schema.optional(Schema.Number),
  /** Times a dispatcher tried to provision a machine (the sweep re-dispatches stuck tasks). */
  dispatchAttempts: Schema.Int,
  machineId: Schema.optional(MachineId),
  statusCommentId: Schema.optional(Schema.Int),
  outcome: Schema.optional(Outcome),
  branch: Schema.optional(Schema.String),
  commitSha: Schema.optional(Schema.String),
  prUrl: Schema.optional(Schema.String),
  summary: Schema.optional(Schema.String),
  usage: Schema.optional(Usage),
  /** Why the task failed, timed out or was cancelled, in words for the issue. */
  reason: Schema.optional(Schema.String),
  /** The last lines of the run's output, secrets scrubbed by the runner. */
  logTail: Schema.optional(Schema.String),
  /** `ask` for a question (read-only, no pull request); absent means `change`. */
  mode: Schema.optional(TaskMode),
  /**
   * The request this task answers, unique among tasks (`comment:<kind>:<id>` for a comment): one comment never starts
   * two tasks, whatever deliveries carry it. Absent for tasks no comment asked for (an administrator's retry).
   */
  requestKey: Schema.optional(Schema.String),
  /** The first word of the command when it named no agent (the status comment says no agent has that name). */
  notAnAgent: Schema.optional(Schema.String),
  /** Who approved an outsider's request (login). */
  approvedBy: Schema.optional(Schema.String),
  /** `@porter continue`: the earlier task of the issue this one picks up from (its branch, its agent's session). */
  continuesFrom: Schema.optional(TaskId),
  /**
   * How a continuation started: `session` — the agent's CLI was handed its earlier session and resumed it; `summary` —
   * it started afresh, with the earlier task's summary and diff in the prompt.
   */
  resumed: Schema.optional(Schema.Literals(["session", "summary"])),
  /**
   * The task was asked to stop (cancelled; over its budget): the state it ends in once its machine has handed over the
   * work so far (a checkpoint), or its grace period is over. Its `reason` says why; its `deadlineAt` is when it was asked.
   */
  stopState: Schema.optional(Schema.Literals(["cancelled", "failed", "timed_out"])),
  /** Where the run's scrubbed transcript can be read (the web app's page, or the secret gist that mirrors it). */
  transcriptUrl: Schema.optional(Schema.String)
}) {
  get isTerminal(): boolean {
    return isTerminal(this.state)
  }
}

/** Fields a transition or an update may set besides `state`. */
export type TaskPatch = Partial<
  Pick<
    Task,
    | "heartbeatAt"
    | "startedAt"
    | "finishedAt"
    | "dispatchAttempts"
    | "machineId"
    | "statusCommentId"
    | "outcome"
    | "branch"
    | "commitSha"
    | "prUrl"
    | "summary"
    | "usage"
    | "reason"
    | "logTail"
    | "deadlineAt"
    | "approvedBy"
    | "resumed"
    | "stopState"
    | "transcriptUrl"
  >
>

/** The pure state machine: the task after moving to `to`, or `IllegalTransition`. */
export const transition = (
  task: Task,
  to: TaskState,
  now: number,
  patch: TaskPatch = {}
): Effect.Effect<Task, IllegalTransition> =>
  canTransition(task.state, to)
    ? Effect.succeed(applyTransition(task, to, now, patch))
    : Effect.fail(new IllegalTransition({ taskId: task.id, from: task.state, to }))

/** Applies a transition already known to be legal (stores use this after their conditional update). */
export const applyTransition = (task: Task, to: TaskState, now: number, patch: TaskPatch = {}): Task =>
  new Task({
    ...task,
    ...patch,
    state: to,
    updatedAt: now,
    ...(isTerminal(to) && patch.finishedAt === undefined ? { finishedAt: now } : {}),
    ...(to === "running" && task.startedAt === undefined && patch.startedAt === undefined ? { startedAt: now } : {})
  })

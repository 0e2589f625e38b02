/**
 * TaskStore: tasks, deliveries and the audit trail. Every state change is one conditional write
 * (`… WHERE id = ? AND state IN (sourcesOf(to))`), so concurrent or late writers can never move a
 * terminal task, and claiming a delivery succeeds exactly once per delivery id.
 *
 * The store writes part of the audit trail itself, in the same write as the change it records (a D1 trigger, one
 * statement): `created` when a task is created, `transition` when its state changes, `dispatch` when a dispatch
 * attempt begins, `machine` when a machine id is recorded. The orchestration adds the rest (`appendEvent`).
 */
import { Context, Schema } from "effect"
import type { Effect, Option } from "effect"
import type { IllegalTransition, StoreError, TaskNotFound } from "./Errors.ts"
import type { DeliveryId, TaskId } from "./Ids.ts"
import type { Task, TaskPatch, TaskState } from "./Task.ts"

/** An incoming event as first recorded, before it was fully handled. */
export interface PendingDelivery {
  readonly id: DeliveryId
  readonly receivedAt: number
  /** The normalized event, JSON (`IncomingEventFromJson`). */
  readonly payload: string
  readonly attempts: number
}

/** One line of a task's audit trail. */
export class TaskEvent extends Schema.Class<TaskEvent>("@porter/core/TaskEvent")({
  taskId: Schema.String,
  at: Schema.Number,
  /** `created`, `transition`, `dispatch`, `machine`, `report`, `callback`, `sweep`, … */
  kind: Schema.String,
  /** For transitions: the states. */
  from: Schema.optional(Schema.String),
  to: Schema.optional(Schema.String),
  detail: Schema.optional(Schema.String)
}) {}

/** Which active tasks to list: of a repository, an issue, a user. */
export interface ActiveFilter {
  readonly repo?: string
  readonly issueNumber?: number
  readonly userId?: number
}

/** When a running or provisioning task is due for the watchdog. */
export interface DueOptions {
  /** A `running` task whose last heartbeat (or start) is older than this is due. */
  readonly heartbeatTimeoutMs: number
  /**
   * A `provisioning` task not touched for this long is due (its dispatcher may have died). Queued tasks wait for a
   * slot as long as they must: the sweep admits them in order (`listQueued`), never as due tasks.
   */
  readonly dispatchTimeoutMs: number
  readonly limit: number
}

/** The active-task limits a new task must fit under, checked in the same write that creates it. */
export interface CreateLimits {
  /** Active tasks of the task's repository, this one excluded, must be fewer than this… */
  readonly perRepository: number
  /** …and active tasks of its requester too. */
  readonly perUser: number
}

/** The limits a queued task must fit under to be admitted (moved to `provisioning`), checked in the same write. */
export interface AdmitLimits {
  /** Tasks of the task's repository holding a slot (`SlotStates`) must be fewer than this… */
  readonly perRepository: number
  /** …and those of its requester too. */
  readonly perUser: number
}

/** What `admit` did. */
export type AdmitResult =
  /** The task moved from `queued` to `provisioning`; its deadline now counts from this moment. */
  | { readonly _tag: "Admitted"; readonly task: Task }
  /**
   * The task stays queued: its repository's or its requester's slots are taken, or a task of its issue holds one (a
   * follow-up waits for the run before it), or an older task of its repository that could start now waits (`queue`).
   */
  | { readonly _tag: "Waiting"; readonly scope: "repository" | "user" | "issue" | "queue" }
  /** The task is not queued (admitted by someone else, ended, awaiting approval) or does not exist. */
  | { readonly _tag: "NotQueued" }

/** What `create` did. */
export type CreateResult =
  | { readonly _tag: "Created"; readonly task: Task }
  /**
   * A task with this id, or with this `requestKey`, exists already (a retried delivery, the same comment delivered
   * twice): it is returned as stored.
   */
  | { readonly _tag: "Exists"; readonly task: Task }
  /** Nothing was created: `scope`'s active tasks are at `limit`. */
  | { readonly _tag: "OverLimit"; readonly scope: "repository" | "user"; readonly limit: number }

/** Which tasks to list: state, repository, page size, and the page's start. */
export interface ListOptions {
  readonly state?: TaskState
  readonly repo?: string
  readonly limit: number
  /** Only tasks created before this task (ids sort by creation time): pagination. */
  readonly before?: TaskId
}

/** Tasks, webhook deliveries, queue slots and the audit trail: Porter's durable state. */
export class TaskStore extends Context.Service<TaskStore, {
  /** Records a delivery; `true` for the first claim of `id`, `false` for every later one. */
  readonly claimDelivery: (delivery: {
    readonly id: DeliveryId
    readonly receivedAt: number
    readonly payload: string
  }) => Effect.Effect<boolean, StoreError>
  /** Marks a delivery fully handled: the sweep no longer retries it. */
  readonly completeDelivery: (id: DeliveryId, at: number) => Effect.Effect<void, StoreError>
  /**
   * Deliveries claimed before `receivedBefore` and never completed, oldest first; each one
   * returned has its attempt count incremented (a retry is being made).
   *
   * With `at` (now), the retry is leased: a delivery returned is marked retried at `at` and is not returned again,
   * to this caller or another, until that mark is before `receivedBefore` too — once per retry period, however many
   * hosts sweep the store (of racing callers, one gets each delivery).
   */
  readonly retryDeliveries: (
    receivedBefore: number,
    limit: number,
    at?: number
  ) => Effect.Effect<ReadonlyArray<PendingDelivery>, StoreError>

  /**
   * Creates `task` unless its id or its `requestKey` exists (then `Exists` with the stored task) or, with `limits`, its
   * repository or requester already has that many active tasks (`OverLimit`). The check and the insert are one atomic
   * write: two requests at the same instant cannot both pass a limit. Records the `created` audit event.
   */
  readonly create: (task: Task, limits?: CreateLimits) => Effect.Effect<CreateResult, StoreError>
  readonly get: (id: TaskId) => Effect.Effect<Task, TaskNotFound | StoreError>
  readonly find: (id: TaskId) => Effect.Effect<Option.Option<Task>, StoreError>
  /**
   * Moves a task to `to` if `canTransition(current, to)`, in one conditional write, and records
   * the transition in the audit trail. Fails with `IllegalTransition` (carrying the current
   * state) otherwise.
   */
  readonly transition: (
    id: TaskId,
    to: TaskState,
    at: number,
    patch?: TaskPatch
  ) => Effect.Effect<Task, TaskNotFound | IllegalTransition | StoreError>
  /**
   * Sets fields without changing state, only while the task is in one of `states` (default: any
   * active state). Fails with `IllegalTransition` (from = to = current state) otherwise. Recording a new
   * `machineId` records the `machine` audit event.
   */
  readonly update: (
    id: TaskId,
    patch: TaskPatch,
    at: number,
    states?: ReadonlyArray<TaskState>
  ) => Effect.Effect<Task, TaskNotFound | IllegalTransition | StoreError>
  /**
   * Compare-and-set on `dispatchAttempts`: increments it, moves a queued task to `provisioning`, and returns the
   * task only if it is still queued or provisioning with `expectedAttempts` attempts. Two dispatchers racing for the
   * same task: exactly one gets `Some`. Records the `dispatch` audit event (and the transition, if any).
   */
  readonly beginDispatch: (
    id: TaskId,
    expectedAttempts: number,
    at: number
  ) => Effect.Effect<Option.Option<Task>, StoreError>

  /**
   * Takes a due task for one sweep step: compare-and-set on the task as it was listed (`task`'s state, `updatedAt`
   * and `dispatchAttempts`), moving its `updatedAt` to `at`. `None` when the task changed since (another host's sweep
   * took it, its dispatcher or machine moved it) or ended. Of several hosts sweeping the same store at once, exactly
   * one gets `Some` for a task; a host that dies after taking it leaves it due again once its timeout passes anew.
   */
  readonly claimDue: (task: Task, at: number) => Effect.Effect<Option.Option<Task>, StoreError>

  /**
   * Admits a queued task: moves it to `provisioning` (deadline: `at` + its timeout) only if its repository and its
   * requester hold fewer slots than `limits`, no task of its issue holds one, and no older queued task of its
   * repository could start instead (one whose requester has a free slot and whose issue has none taken) — checked in
   * the same atomic write, so two admissions at the same instant cannot both take the last slot, and admissions keep
   * the queue's order whoever makes them. Records the transition. `task` is the task as listed (its repository,
   * requester, issue).
   */
  readonly admit: (task: Task, limits: AdmitLimits, at: number) => Effect.Effect<AdmitResult, StoreError>
  /** Queued tasks (of `repo`, when given), oldest first: the order they are admitted in. */
  readonly listQueued: (repo: string | undefined, limit: number) => Effect.Effect<ReadonlyArray<Task>, StoreError>
  /**
   * Claims the right to post a notice once per quiet period: `true` (and the notice marked posted at `at`) when `key`
   * was never claimed or last claimed at or before `at - quietMs`, else `false`. Of racing claims, one gets `true`.
   */
  readonly claimNotice: (key: string, at: number, quietMs: number) => Effect.Effect<boolean, StoreError>

  readonly countActive: (filter: ActiveFilter) => Effect.Effect<number, StoreError>
  readonly listActive: (filter: ActiveFilter) => Effect.Effect<ReadonlyArray<Task>, StoreError>
  /** Tasks of one issue, newest first. */
  readonly listByIssue: (
    repo: string,
    issueNumber: number,
    limit: number
  ) => Effect.Effect<ReadonlyArray<Task>, StoreError>
  /** Newest first. */
  readonly list: (options: ListOptions) => Effect.Effect<ReadonlyArray<Task>, StoreError>
  /**
   * Active tasks the watchdog must look at: deadline passed, heartbeat missing (running), or
   * dispatch stuck (provisioning untouched). Cost must track the number of due tasks, not
   * the number of tasks.
   */
  readonly listDue: (now: number, options: DueOptions) => Effect.Effect<ReadonlyArray<Task>, StoreError>

  readonly appendEvent: (event: TaskEvent) => Effect.Effect<void, StoreError>
  /** The audit trail of a task, oldest first. */
  readonly events: (id: TaskId) => Effect.Effect<ReadonlyArray<TaskEvent>, StoreError>
}>()("@porter/core/TaskStore") {}

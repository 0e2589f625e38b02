/**
 * `TaskStore` on effect's `SqlClient`, for SQLite (Node's `node:sqlite`, Cloudflare D1) and PostgreSQL. The schema
 * lives in `migrations/` (SQLite, D1) and `migrations/postgres/`, applied by `Migrator` (D1: by wrangler).
 *
 * Every state change is one conditional statement, `UPDATE tasks … WHERE id = ? AND state IN (sourcesOf(to))`:
 * concurrent or late writers can never move a terminal task, and of racing transitions exactly one matches (on
 * PostgreSQL the loser waits for the winner's row lock, then re-checks its `WHERE` against the new row). The audit
 * row of a transition is written by a trigger inside that same statement, so it exists if and only if the task moved.
 * Claiming a delivery is one `INSERT … ON CONFLICT DO NOTHING` on its primary key (on SQLite in Node, the claims of the
 * webhooks answered at the same time share one such statement and its commit: `internal/taskRecords.ts`); creating a
 * task checks the active-task limits inside its `INSERT … SELECT … WHERE` — on SQLite one writer at a time makes that
 * atomic, on PostgreSQL the insert runs in a transaction holding advisory locks on its repository and requester.
 * Sweeps are claimed the same way: `claimDue` is compare-and-set on the task's `updated_at`, and `retryDeliveries`
 * leases the deliveries it returns (`retried_at`), picking them with `FOR UPDATE SKIP LOCKED` on PostgreSQL, so several
 * hosts sweeping one database take each step once.
 *
 * Cannot: clear an optional field through a patch (`undefined` means "leave as is", like the in-memory store).
 */
import { Errors, type Ids, Task, TaskStore } from "@porter/core"
import { Effect, Layer, Option, Schema } from "effect"
import { SqlClient } from "effect/sql"
import type { Statement } from "effect/sql"
import * as Dialect from "./internal/dialect.ts"
import { orStoreError } from "./internal/errors.ts"
import * as TaskRecords from "./internal/taskRecords.ts"
import { decodeTask, encodePatch, encodeTask, patchColumns, taskColumns } from "./internal/taskRow.ts"
import * as Statements from "./internal/taskStatements.ts"

const Num = Dialect.Num

const StateRow = Schema.Struct({ state: Task.TaskState })
const decodeStates = Schema.decodeUnknownEffect(Schema.Array(StateRow))
const CountRow = Schema.Struct({ n: Num })
const decodeCount = Schema.decodeUnknownEffect(Schema.Array(CountRow))
const CountsRow = Schema.Struct({ repo_active: Num, user_active: Num })
const decodeCounts = Schema.decodeUnknownEffect(Schema.Array(CountsRow))
const SlotsRow = Schema.Struct({ queued: Num, repo_slots: Num, user_slots: Num, issue_slots: Num, older: Num })
const decodeSlots = Schema.decodeUnknownEffect(Schema.Array(SlotsRow))

/** The watchdog's query on SQLite (D1's benchmarks explain it); `Statements.dueStatement` for any dialect. */
export const dueStatement = (
  sql: SqlClient.SqlClient,
  now: number,
  options: TaskStore.DueOptions
): Statement.Statement<Record<string, unknown>> => Statements.dueStatement(sql, Dialect.sqlite, now, options)

type Service = TaskStore.TaskStore["Service"]

/** Builds the store on the ambient `SqlClient` (its dialect picks the few statements that differ). */
export const make: Effect.Effect<Service, never, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const dialect = yield* Dialect.of(sql)
  const columns = sql.literal(taskColumns)
  const activeFrom = (filter: TaskStore.ActiveFilter) => Statements.activeFrom(sql, dialect, filter)
  const failed = (operation: string) => orStoreError(operation, dialect.label)

  const query = <A>(operation: string, statement: Effect.Effect<A, unknown>) => statement.pipe(failed(operation))

  const tasks = (operation: string, statement: Effect.Effect<ReadonlyArray<unknown>, unknown>) =>
    Effect.flatMap(
      query(operation, statement),
      (rows) => Effect.forEach(rows, (row) => decodeTask(row)).pipe(failed(operation))
    )

  /** Why a conditional write matched nothing: the task is missing, or in another state. */
  const currentState = (id: Ids.TaskId) =>
    query("read state", sql`SELECT state FROM tasks WHERE id = ${id}`).pipe(
      Effect.flatMap((rows) => decodeStates(rows).pipe(failed("read state"))),
      Effect.map((rows) => Option.map(Option.fromNullishOr(rows[0]), (row) => row.state))
    )

  const refused = Effect.fnUntraced(function*(id: Ids.TaskId, to: (from: Task.TaskState) => Task.TaskState) {
    const state = yield* currentState(id)
    if (Option.isNone(state)) return yield* new Errors.TaskNotFound({ taskId: id })
    return yield* new Errors.IllegalTransition({ taskId: id, from: state.value, to: to(state.value) })
  })

  const patchAssignments = Effect.fnUntraced(function*(patch: Task.TaskPatch) {
    const encoded = yield* encodePatch(patch).pipe(failed("encode patch"))
    const assignments: Record<string, unknown> = {}
    for (const [key, column] of Object.entries(patchColumns)) {
      const value = encoded[key as keyof typeof encoded]
      if (value !== undefined) assignments[column] = value
    }
    return assignments
  })

  /** Active tasks of the task's repository and of its requester, through their partial indexes. */
  const activeCounts = (task: Task.Task) =>
    sql`(SELECT count(*) FROM ${activeFrom({ repo: task.repo.fullName })}) AS repo_active,
      (SELECT count(*) FROM ${activeFrom({ userId: task.requestedBy.id })}) AS user_active`

  /**
   * On PostgreSQL, `effect` runs in a transaction holding advisory locks on the task's repository and requester (in
   * that order, so two creates never wait on each other in a circle): its limit check sees every create before it.
   */
  const serialized = <A, E>(task: Pick<Task.Task, "repo" | "requestedBy">, effect: Effect.Effect<A, E>) =>
    dialect.name !== "pg" ? effect : sql.withTransaction(
      Effect.andThen(
        query(
          "lock limits",
          sql`SELECT pg_advisory_xact_lock(1, hashtext(${task.repo.fullName.toLowerCase()})),
            pg_advisory_xact_lock(2, hashtext(${String(task.requestedBy.id)}))`
        ),
        effect
      )
    ).pipe(failed("create task"))

  // One statement on the way to a machine: the limits are checked in the insert itself, so two requests at the
  // same instant cannot both pass them. Only a refusal reads again (to say which it was).
  const create: Service["create"] = Effect.fn("SqlTaskStore.create")(function*(task, limits) {
    const row: Record<string, unknown> = {
      ...(yield* encodeTask(task).pipe(failed("encode task"))),
      repo_key: task.repo.fullName.toLowerCase()
    }
    const names = Object.keys(row)
    const values = sql.csv(names.map((name) => sql`${row[name]}`))
    const within = limits === undefined
      ? sql.literal("1 = 1")
      : sql`(SELECT count(*) FROM ${activeFrom({ repo: task.repo.fullName })}) < ${limits.perRepository}
          AND (SELECT count(*) FROM ${activeFrom({ userId: task.requestedBy.id })}) < ${limits.perUser}`
    // No conflict target: a task with this id, or with this request key (its unique index), is left as it is.
    const insert = query(
      "create task",
      sql`INSERT INTO tasks (${sql.literal(names.join(", "))}) SELECT ${values} WHERE ${within}
        ON CONFLICT DO NOTHING RETURNING id`
    )
    const inserted = yield* (limits === undefined ? insert : serialized(task, insert))
    if (inserted.length === 1) return { _tag: "Created", task } satisfies TaskStore.CreateResult
    const existing = yield* find(task.id)
    if (Option.isSome(existing)) return { _tag: "Exists", task: existing.value } satisfies TaskStore.CreateResult
    if (task.requestKey !== undefined) {
      const same = yield* tasks(
        "find request",
        sql`SELECT ${columns} FROM tasks WHERE request_key = ${task.requestKey}`
      )
      if (same[0] !== undefined) return { _tag: "Exists", task: same[0] } satisfies TaskStore.CreateResult
    }
    const counted = yield* query("count active", sql`SELECT ${activeCounts(task)}`).pipe(
      Effect.flatMap((rows) => decodeCounts(rows).pipe(failed("count active")))
    )
    const repoActive = counted[0]?.repo_active ?? 0
    return (limits !== undefined && repoActive >= limits.perRepository
      ? { _tag: "OverLimit", scope: "repository", limit: limits.perRepository }
      : { _tag: "OverLimit", scope: "user", limit: limits?.perUser ?? 0 }) satisfies TaskStore.CreateResult
  })

  const find: Service["find"] = Effect.fn("SqlTaskStore.find")(function*(id) {
    const rows = yield* tasks("find task", sql`SELECT ${columns} FROM tasks WHERE id = ${id}`)
    return Option.fromNullishOr(rows[0])
  })

  const get: Service["get"] = Effect.fn("SqlTaskStore.get")(function*(id) {
    const found = yield* find(id)
    if (Option.isNone(found)) return yield* new Errors.TaskNotFound({ taskId: id })
    return found.value
  })

  const transition: Service["transition"] = Effect.fn("SqlTaskStore.transition")(function*(id, to, at, patch = {}) {
    const sources = Task.sourcesOf(to)
    if (sources.length === 0) return yield* refused(id, () => to)
    const assignments: Record<string, unknown> = { ...(yield* patchAssignments(patch)), state: to, updated_at: at }
    if (Task.isTerminal(to) && patch.finishedAt === undefined) assignments.finished_at = at
    // Mirrors `Task.applyTransition`: the first move to running stamps startedAt, later ones keep it.
    const startedAt = to === "running" && patch.startedAt === undefined
      ? sql`, started_at = coalesce(started_at, ${at})`
      : sql.literal("")
    const rows = yield* tasks(
      "transition task",
      sql`UPDATE tasks SET ${sql.update(assignments)}${startedAt}
        WHERE id = ${id} AND state IN ${sql.in(sources)} RETURNING ${columns}`
    )
    const moved = rows[0]
    if (moved === undefined) return yield* refused(id, () => to)
    return moved
  })

  const update: Service["update"] = Effect.fn("SqlTaskStore.update")(
    function*(id, patch, at, states = Task.ActiveStates) {
      if (states.length === 0) return yield* refused(id, (from) => from)
      const assignments = { ...(yield* patchAssignments(patch)), updated_at: at }
      const rows = yield* tasks(
        "update task",
        sql`UPDATE tasks SET ${sql.update(assignments)} WHERE id = ${id} AND state IN ${sql.in(states)}
          RETURNING ${columns}`
      )
      const updated = rows[0]
      if (updated === undefined) return yield* refused(id, (from) => from)
      return updated
    }
  )

  const beginDispatch: Service["beginDispatch"] = Effect.fn("SqlTaskStore.beginDispatch")(
    function*(id, expectedAttempts, at) {
      const rows = yield* tasks(
        "begin dispatch",
        sql`UPDATE tasks SET dispatch_attempts = dispatch_attempts + 1, updated_at = ${at}, state = 'provisioning'
          WHERE id = ${id} AND ${sql.literal(Statements.DISPATCHABLE)} AND dispatch_attempts = ${expectedAttempts}
          RETURNING ${columns}`
      )
      return Option.fromNullishOr(rows[0])
    }
  )

  const claimDue: Service["claimDue"] = Effect.fn("SqlTaskStore.claimDue")(function*(task, at) {
    const rows = yield* tasks(
      "claim due task",
      sql`UPDATE tasks SET updated_at = ${at}
        WHERE id = ${task.id} AND state = ${task.state} AND ${sql.literal(Statements.ACTIVE)}
          AND updated_at = ${task.updatedAt} AND dispatch_attempts = ${task.dispatchAttempts}
        RETURNING ${columns}`
    )
    return Option.fromNullishOr(rows[0])
  })

  const slotsFrom = (filter: Parameters<typeof Statements.slotsFrom>[2]) => Statements.slotsFrom(sql, dialect, filter)

  // The limits are checked in the update itself (on PostgreSQL under the same advisory locks as `create`), so two
  // admissions at the same instant cannot both take the last slot. Only a task left waiting is read again (to say why).
  const admit: Service["admit"] = Effect.fn("SqlTaskStore.admit")(function*(task, limits, at) {
    const repo = task.repo.fullName
    const id = task.id
    // An older task of the repository that could start now (its requester has a free slot, its issue has none taken)
    // goes first: admissions keep the queue's order whoever makes them.
    const ahead = sql`SELECT 1 FROM tasks AS q ${sql.literal(dialect.indexedBy("tasks_queued"))}
      WHERE q.state = 'queued' AND q.repo_key = ${repo.toLowerCase()} AND q.id < ${id}
        AND (SELECT count(*) FROM tasks AS s ${sql.literal(dialect.indexedBy("tasks_slots_user"))}
          WHERE ${sql.literal(Statements.SLOTS)} AND s.requested_by_id = q.requested_by_id) < ${limits.perUser}
        AND NOT EXISTS (SELECT 1 FROM tasks AS s ${sql.literal(dialect.indexedBy("tasks_slots_repo"))}
          WHERE ${sql.literal(Statements.SLOTS)} AND s.repo_key = q.repo_key AND s.issue_number = q.issue_number)`
    const update = tasks(
      "admit task",
      sql`UPDATE tasks SET state = 'provisioning', updated_at = ${at}, deadline_at = ${at} + timeout_ms
        WHERE id = ${id} AND ${sql.literal(Statements.QUEUED)}
          AND (SELECT count(*) FROM ${slotsFrom({ repo })}) < ${limits.perRepository}
          AND (SELECT count(*) FROM ${slotsFrom({ userId: task.requestedBy.id })}) < ${limits.perUser}
          AND NOT EXISTS (SELECT 1 FROM ${slotsFrom({ repo, issueNumber: task.issueNumber })})
          AND NOT EXISTS (${ahead})
        RETURNING ${columns}`
    )
    const admitted = (yield* serialized(task, update))[0]
    if (admitted !== undefined) return { _tag: "Admitted", task: admitted } satisfies TaskStore.AdmitResult
    const counted = yield* query(
      "count slots",
      sql`SELECT (SELECT count(*) FROM tasks WHERE id = ${id} AND ${sql.literal(Statements.QUEUED)}) AS queued,
        (SELECT count(*) FROM ${slotsFrom({ repo })}) AS repo_slots,
        (SELECT count(*) FROM ${slotsFrom({ userId: task.requestedBy.id })}) AS user_slots,
        (SELECT count(*) FROM ${slotsFrom({ repo, issueNumber: task.issueNumber })}) AS issue_slots,
        (SELECT count(*) FROM (${ahead}) AS a) AS older`
    ).pipe(Effect.flatMap((rows) => decodeSlots(rows).pipe(failed("count slots"))))
    const slots = counted[0]
    if (slots === undefined || slots.queued === 0) return { _tag: "NotQueued" } satisfies TaskStore.AdmitResult
    return (slots.repo_slots >= limits.perRepository
      ? { _tag: "Waiting", scope: "repository" }
      : slots.user_slots >= limits.perUser
      ? { _tag: "Waiting", scope: "user" }
      : slots.issue_slots > 0
      ? { _tag: "Waiting", scope: "issue" }
      : slots.older > 0
      ? { _tag: "Waiting", scope: "queue" }
      // Nothing stood in its way: it moved on while the update ran (admitted by someone else, cancelled).
      : { _tag: "NotQueued" }) satisfies TaskStore.AdmitResult
  })

  const listQueued: Service["listQueued"] = Effect.fn("SqlTaskStore.listQueued")(function*(repo, limit) {
    const where = repo === undefined
      ? sql.literal(Statements.QUEUED)
      : sql`${sql.literal(Statements.QUEUED)} AND repo_key = ${repo.toLowerCase()}`
    const index = dialect.indexedBy(repo === undefined ? "tasks_state" : "tasks_queued")
    return yield* tasks(
      "list queued",
      sql`SELECT ${columns} FROM tasks ${sql.literal(index)} WHERE ${where} ORDER BY id LIMIT ${limit}`
    )
  })

  const claimNotice: Service["claimNotice"] = Effect.fn("SqlTaskStore.claimNotice")(function*(key, at, quietMs) {
    const rows = yield* query(
      "claim notice",
      sql`INSERT INTO notices (notice_key, at) VALUES (${key}, ${at})
        ON CONFLICT (notice_key) DO UPDATE SET at = excluded.at WHERE notices.at <= ${at - quietMs}
        RETURNING notice_key`
    )
    return rows.length === 1
  })

  const countActive: Service["countActive"] = Effect.fn("SqlTaskStore.countActive")(function*(filter) {
    const rows = yield* query("count active", sql`SELECT count(*) AS n FROM ${activeFrom(filter)}`)
    const counted = yield* decodeCount(rows).pipe(failed("count active"))
    return counted[0]?.n ?? 0
  })

  const listActive: Service["listActive"] = Effect.fn("SqlTaskStore.listActive")(function*(filter) {
    return yield* tasks("list active", sql`SELECT ${columns} FROM ${activeFrom(filter)} ORDER BY id DESC`)
  })

  const listByIssue: Service["listByIssue"] = Effect.fn("SqlTaskStore.listByIssue")(
    function*(repo, issueNumber, limit) {
      return yield* tasks(
        "list by issue",
        sql`SELECT ${columns} FROM tasks WHERE repo_key = ${repo.toLowerCase()} AND issue_number = ${issueNumber}
          ORDER BY id DESC LIMIT ${limit}`
      )
    }
  )

  const list: Service["list"] = Effect.fn("SqlTaskStore.list")(function*(options) {
    const where = sql.and([
      ...(options.state !== undefined ? [sql`state = ${options.state}`] : []),
      ...(options.repo !== undefined ? [sql`repo_key = ${options.repo.toLowerCase()}`] : []),
      ...(options.before !== undefined ? [sql`id < ${options.before}`] : [])
    ])
    return yield* tasks(
      "list tasks",
      sql`SELECT ${columns} FROM tasks WHERE ${where} ORDER BY id DESC LIMIT ${options.limit}`
    )
  })

  const listDue: Service["listDue"] = Effect.fn("SqlTaskStore.listDue")(function*(now, options) {
    return yield* tasks("list due tasks", Statements.dueStatement(sql, dialect, now, options))
  })

  const { appendEvent, claimDelivery, completeDelivery, events, retryDeliveries } = TaskRecords.make(sql, dialect)

  return TaskStore.TaskStore.of({
    claimDelivery,
    completeDelivery,
    retryDeliveries,
    create,
    get,
    find,
    transition,
    update,
    beginDispatch,
    claimDue,
    admit,
    listQueued,
    claimNotice,
    countActive,
    listActive,
    listByIssue,
    list,
    listDue,
    appendEvent,
    events
  })
})

/** `TaskStore` on the ambient `SqlClient`. */
export const layer: Layer.Layer<TaskStore.TaskStore, never, SqlClient.SqlClient> = Layer.effect(
  TaskStore.TaskStore,
  make
)

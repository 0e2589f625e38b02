/**
 * `TaskStore` on Cloudflare D1 (any `SqlClient` speaking SQLite works: the store only needs
 * `SqlClient`, and the schema lives in `migrations/`).
 *
 * Every state change is one conditional statement, `UPDATE tasks … WHERE id = ? AND state IN
 * (sourcesOf(to))`: concurrent or late writers can never move a terminal task, and of racing
 * transitions exactly one matches. The audit row of a transition is written by a trigger inside
 * that same statement, so it exists if and only if the task moved. Claiming a delivery is one
 * `INSERT … ON CONFLICT DO NOTHING` on its primary key; creating a task checks the active-task limits inside its
 * `INSERT … SELECT … WHERE`. The audit lines of creation, dispatch attempts and machines are triggers too
 * (migrations/0002_audit.sql). With a `D1Client` in context (the Worker) the delivery claim
 * statement goes to the D1 binding itself (prepared once, `run()`, `meta.changes`), skipping `effect/sql`'s
 * statement compiling and result rows on every webhook's answer.
 *
 * Cannot: run transactions (D1 has none across requests), or clear an optional field through a
 * patch (`undefined` means "leave as is", like the in-memory store).
 */
import type { D1Database, D1PreparedStatement } from "@cloudflare/workers-types"
import { D1Client } from "@effect/sql-d1"
import { Errors, type Ids, Task, TaskStore } from "@porter/core"
import { Effect, Layer, Option, Schema } from "effect"
import { SqlClient } from "effect/sql"
import type { Statement } from "effect/sql"
import { orStoreError, storeError } from "./internal/errors.ts"
import { decodeTask, encodePatch, encodeTask, patchColumns, taskColumns } from "./internal/taskRow.ts"

// Written out, not bound: SQLite uses a partial index only when the query repeats the index's
// WHERE term with the same constants (see migrations/0001_init.sql). The hot queries also name
// their index (`INDEXED BY`): without statistics the planner may prefer `tasks_state`, whose cost
// grows with every active task, and a dropped index then fails loudly instead of scanning.
const ACTIVE = "state IN ('queued', 'provisioning', 'running')"
const DISPATCHING = "state IN ('queued', 'provisioning')"
const RUNNING = "state = 'running'"
const LIVENESS = "coalesce(heartbeat_at, started_at, updated_at)"

const EventRow = Schema.Struct({
  task_id: Schema.String,
  at: Schema.Number,
  kind: Schema.String,
  from_state: Schema.NullOr(Schema.String),
  to_state: Schema.NullOr(Schema.String),
  detail: Schema.NullOr(Schema.String)
})
const decodeEvents = Schema.decodeUnknownEffect(Schema.Array(EventRow))

const DeliveryRow = Schema.Struct({
  id: Schema.String,
  received_at: Schema.Number,
  payload: Schema.NullOr(Schema.String),
  attempts: Schema.Number
})
const decodeDeliveries = Schema.decodeUnknownEffect(Schema.Array(DeliveryRow))

const StateRow = Schema.Struct({ state: Task.TaskState })
const decodeStates = Schema.decodeUnknownEffect(Schema.Array(StateRow))
const CountRow = Schema.Struct({ n: Schema.Number })
const decodeCount = Schema.decodeUnknownEffect(Schema.Array(CountRow))
const CountsRow = Schema.Struct({ repo_active: Schema.Number, user_active: Schema.Number })
const decodeCounts = Schema.decodeUnknownEffect(Schema.Array(CountsRow))

/**
 * The watchdog's query: three index range scans (deadline passed; no heartbeat; dispatch stuck),
 * each stopped at `limit`, merged by id. Exported so the benchmark explains the exact statement.
 */
export const dueStatement = (
  sql: SqlClient.SqlClient,
  now: number,
  options: TaskStore.DueOptions
): Statement.Statement<Record<string, unknown>> => {
  const lit = sql.literal
  const silentSince = now - options.heartbeatTimeoutMs
  const untouchedSince = now - options.dispatchTimeoutMs
  return sql`SELECT ${lit(taskColumns)} FROM tasks WHERE id IN (
    SELECT id FROM (SELECT id FROM tasks INDEXED BY tasks_due_deadline
      WHERE ${lit(ACTIVE)} AND deadline_at <= ${now} ORDER BY deadline_at LIMIT ${options.limit})
    UNION
    SELECT id FROM (SELECT id FROM tasks INDEXED BY tasks_due_heartbeat
      WHERE ${lit(RUNNING)} AND ${lit(LIVENESS)} <= ${silentSince} ORDER BY ${lit(LIVENESS)} LIMIT ${options.limit})
    UNION
    SELECT id FROM (SELECT id FROM tasks INDEXED BY tasks_due_dispatch
      WHERE ${lit(DISPATCHING)} AND updated_at <= ${untouchedSince} ORDER BY updated_at LIMIT ${options.limit})
  ) ORDER BY deadline_at, id LIMIT ${options.limit}`
}

const CLAIM = "INSERT INTO deliveries (id, received_at, payload, attempts) VALUES (?1, ?2, ?3, 1) " +
  "ON CONFLICT (id) DO NOTHING"

/** `claimDelivery` on the D1 binding: one `run()` of a statement prepared once. */
const claimOnBinding = (db: D1Database): TaskStore.TaskStore["Service"]["claimDelivery"] => {
  let prepared: D1PreparedStatement | undefined
  const fail = storeError("claim delivery")
  return (delivery) =>
    Effect.tryPromise({
      try: () =>
        (prepared ??= db.prepare(CLAIM)).bind(delivery.id, delivery.receivedAt, delivery.payload).run().then(
          (result) => result.meta.changes === 1
        ),
      catch: fail
    })
}

/**
 * Builds the store on the ambient `SqlClient` (D1: `D1Client.layer({ db })`, whose binding the delivery claim then
 * uses directly).
 */
export const make: Effect.Effect<TaskStore.TaskStore["Service"], never, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const columns = sql.literal(taskColumns)

  const decodeRows = (operation: string) => (rows: ReadonlyArray<unknown>) =>
    Effect.forEach(rows, (row) => decodeTask(row)).pipe(orStoreError(operation))

  const query = <A>(operation: string, statement: Effect.Effect<A, unknown>) => statement.pipe(orStoreError(operation))

  const tasks = (operation: string, statement: Effect.Effect<ReadonlyArray<unknown>, unknown>) =>
    Effect.flatMap(query(operation, statement), decodeRows(operation))

  /** Why a conditional write matched nothing: the task is missing, or in another state. */
  const currentState = (id: Ids.TaskId) =>
    query("read state", sql`SELECT state FROM tasks WHERE id = ${id}`).pipe(
      Effect.flatMap((rows) => decodeStates(rows).pipe(orStoreError("read state"))),
      Effect.map((rows) => Option.map(Option.fromNullishOr(rows[0]), (row) => row.state))
    )

  const refused = Effect.fnUntraced(function*(id: Ids.TaskId, to: (from: Task.TaskState) => Task.TaskState) {
    const state = yield* currentState(id)
    if (Option.isNone(state)) return yield* new Errors.TaskNotFound({ taskId: id })
    return yield* new Errors.IllegalTransition({ taskId: id, from: state.value, to: to(state.value) })
  })

  const patchAssignments = Effect.fnUntraced(function*(patch: Task.TaskPatch) {
    const encoded = yield* encodePatch(patch).pipe(orStoreError("encode patch"))
    const assignments: Record<string, unknown> = {}
    for (const [key, column] of Object.entries(patchColumns)) {
      const value = encoded[key as keyof typeof encoded]
      if (value !== undefined) assignments[column] = value
    }
    return assignments
  })

  const activeWhere = (filter: TaskStore.ActiveFilter) =>
    sql.and([
      sql.literal(ACTIVE),
      ...(filter.repo !== undefined ? [sql`repo_key = ${filter.repo.toLowerCase()}`] : []),
      ...(filter.issueNumber !== undefined ? [sql`issue_number = ${filter.issueNumber}`] : []),
      ...(filter.userId !== undefined ? [sql`requested_by_id = ${filter.userId}`] : [])
    ])

  /** The active tasks matching `filter`, through the partial index of the filter's main key. */
  const activeFrom = (filter: TaskStore.ActiveFilter) => {
    const index = filter.repo !== undefined
      ? "INDEXED BY tasks_active_repo"
      : filter.userId !== undefined
      ? "INDEXED BY tasks_active_user"
      : ""
    return sql`tasks ${sql.literal(index)} WHERE ${activeWhere(filter)}`
  }

  // On every webhook's answer: one statement, untraced (a span costs more than building the statement). On D1 it
  // goes to the binding, like the plainest Worker would: the statement prepared once, `run()` (no result rows),
  // and the primary key's conflict leaves `meta.changes` at 0 (no trigger writes on `deliveries`).
  const claimDelivery: TaskStore.TaskStore["Service"]["claimDelivery"] = Option.match(
    yield* Effect.serviceOption(D1Client.D1Client),
    {
      onSome: (client) => claimOnBinding(client.config.db),
      onNone: () => (delivery) =>
        Effect.map(
          query(
            "claim delivery",
            sql`INSERT INTO deliveries (id, received_at, payload, attempts)
              VALUES (${delivery.id}, ${delivery.receivedAt}, ${delivery.payload}, 1)
              ON CONFLICT (id) DO NOTHING RETURNING id`
          ),
          (rows) => rows.length === 1
        )
    }
  )

  const completeDelivery: TaskStore.TaskStore["Service"]["completeDelivery"] = Effect.fn(
    "D1TaskStore.completeDelivery"
  )(function*(id, at) {
    // The payload was only kept for retries; the task row and the audit trail keep what matters.
    yield* query(
      "complete delivery",
      sql`UPDATE deliveries SET completed_at = ${at}, payload = NULL WHERE id = ${id} AND completed_at IS NULL`
    )
  })

  const retryDeliveries: TaskStore.TaskStore["Service"]["retryDeliveries"] = Effect.fn("D1TaskStore.retryDeliveries")(
    function*(receivedBefore, limit) {
      const rows = yield* query(
        "retry deliveries",
        sql`UPDATE deliveries SET attempts = attempts + 1 WHERE id IN (
            SELECT id FROM deliveries WHERE completed_at IS NULL AND received_at < ${receivedBefore}
            ORDER BY received_at LIMIT ${limit}
          ) RETURNING id, received_at, payload, attempts`
      )
      const decoded = yield* decodeDeliveries(rows).pipe(orStoreError("retry deliveries"))
      return decoded
        .map((row): TaskStore.PendingDelivery => ({
          id: row.id as Ids.DeliveryId,
          receivedAt: row.received_at,
          payload: row.payload ?? "",
          attempts: row.attempts
        }))
        .sort((a, b) => a.receivedAt - b.receivedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    }
  )

  /** Active tasks of the task's repository and of its requester, through their partial indexes. */
  const activeCounts = (task: Task.Task) =>
    sql`(SELECT count(*) FROM ${activeFrom({ repo: task.repo.fullName })}) AS repo_active,
      (SELECT count(*) FROM ${activeFrom({ userId: task.requestedBy.id })}) AS user_active`

  // One statement on the way to a machine: the limits are checked in the insert itself, so two requests at the
  // same instant cannot both pass them. Only a refusal reads again (to say which it was).
  const create: TaskStore.TaskStore["Service"]["create"] = Effect.fn("D1TaskStore.create")(function*(task, limits) {
    const row: Record<string, unknown> = {
      ...(yield* encodeTask(task).pipe(orStoreError("encode task"))),
      repo_key: task.repo.fullName.toLowerCase()
    }
    const names = Object.keys(row)
    const values = sql.csv(names.map((name) => sql`${row[name]}`))
    const within = limits === undefined
      ? sql.literal("1 = 1")
      : sql`(SELECT count(*) FROM ${activeFrom({ repo: task.repo.fullName })}) < ${limits.perRepository}
          AND (SELECT count(*) FROM ${activeFrom({ userId: task.requestedBy.id })}) < ${limits.perUser}`
    const inserted = yield* query(
      "create task",
      sql`INSERT INTO tasks (${sql.literal(names.join(", "))}) SELECT ${values} WHERE ${within}
        ON CONFLICT (id) DO NOTHING RETURNING id`
    )
    if (inserted.length === 1) return { _tag: "Created", task } satisfies TaskStore.CreateResult
    const existing = yield* find(task.id)
    if (Option.isSome(existing)) return { _tag: "Exists", task: existing.value } satisfies TaskStore.CreateResult
    const counted = yield* query("count active", sql`SELECT ${activeCounts(task)}`).pipe(
      Effect.flatMap((rows) => decodeCounts(rows).pipe(orStoreError("count active")))
    )
    const repoActive = counted[0]?.repo_active ?? 0
    return (limits !== undefined && repoActive >= limits.perRepository
      ? { _tag: "OverLimit", scope: "repository", limit: limits.perRepository }
      : { _tag: "OverLimit", scope: "user", limit: limits?.perUser ?? 0 }) satisfies TaskStore.CreateResult
  })

  const find: TaskStore.TaskStore["Service"]["find"] = Effect.fn("D1TaskStore.find")(function*(id) {
    const rows = yield* tasks("find task", sql`SELECT ${columns} FROM tasks WHERE id = ${id}`)
    return Option.fromNullishOr(rows[0])
  })

  const get: TaskStore.TaskStore["Service"]["get"] = Effect.fn("D1TaskStore.get")(function*(id) {
    const found = yield* find(id)
    if (Option.isNone(found)) return yield* new Errors.TaskNotFound({ taskId: id })
    return found.value
  })

  const transition: TaskStore.TaskStore["Service"]["transition"] = Effect.fn("D1TaskStore.transition")(
    function*(id, to, at, patch = {}) {
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
    }
  )

  const update: TaskStore.TaskStore["Service"]["update"] = Effect.fn("D1TaskStore.update")(
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

  const beginDispatch: TaskStore.TaskStore["Service"]["beginDispatch"] = Effect.fn("D1TaskStore.beginDispatch")(
    function*(id, expectedAttempts, at) {
      const rows = yield* tasks(
        "begin dispatch",
        sql`UPDATE tasks SET dispatch_attempts = dispatch_attempts + 1, updated_at = ${at}, state = 'provisioning'
          WHERE id = ${id} AND ${sql.literal(DISPATCHING)} AND dispatch_attempts = ${expectedAttempts}
          RETURNING ${columns}`
      )
      return Option.fromNullishOr(rows[0])
    }
  )

  const countActive: TaskStore.TaskStore["Service"]["countActive"] = Effect.fn("D1TaskStore.countActive")(
    function*(filter) {
      const rows = yield* query("count active", sql`SELECT count(*) AS n FROM ${activeFrom(filter)}`)
      const counted = yield* decodeCount(rows).pipe(orStoreError("count active"))
      return counted[0]?.n ?? 0
    }
  )

  const listActive: TaskStore.TaskStore["Service"]["listActive"] = Effect.fn("D1TaskStore.listActive")(
    function*(filter) {
      return yield* tasks(
        "list active",
        sql`SELECT ${columns} FROM ${activeFrom(filter)} ORDER BY id DESC`
      )
    }
  )

  const listByIssue: TaskStore.TaskStore["Service"]["listByIssue"] = Effect.fn("D1TaskStore.listByIssue")(
    function*(repo, issueNumber, limit) {
      return yield* tasks(
        "list by issue",
        sql`SELECT ${columns} FROM tasks WHERE repo_key = ${repo.toLowerCase()} AND issue_number = ${issueNumber}
          ORDER BY id DESC LIMIT ${limit}`
      )
    }
  )

  const list: TaskStore.TaskStore["Service"]["list"] = Effect.fn("D1TaskStore.list")(function*(options) {
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

  const listDue: TaskStore.TaskStore["Service"]["listDue"] = Effect.fn("D1TaskStore.listDue")(
    function*(now, options) {
      return yield* tasks("list due tasks", dueStatement(sql, now, options))
    }
  )

  const appendEvent: TaskStore.TaskStore["Service"]["appendEvent"] = Effect.fn("D1TaskStore.appendEvent")(
    function*(event) {
      yield* query(
        "append event",
        sql`INSERT INTO task_events (task_id, at, kind, from_state, to_state, detail)
          VALUES (${event.taskId}, ${event.at}, ${event.kind}, ${event.from ?? null}, ${event.to ?? null},
            ${event.detail ?? null})`
      )
    }
  )

  const events: TaskStore.TaskStore["Service"]["events"] = Effect.fn("D1TaskStore.events")(function*(id) {
    const rows = yield* query(
      "read events",
      sql`SELECT task_id, at, kind, from_state, to_state, detail FROM task_events WHERE task_id = ${id}
        ORDER BY at, seq`
    )
    const decoded = yield* decodeEvents(rows).pipe(orStoreError("read events"))
    return decoded.map((row) =>
      new TaskStore.TaskEvent({
        taskId: row.task_id,
        at: row.at,
        kind: row.kind,
        ...(row.from_state !== null ? { from: row.from_state } : {}),
        ...(row.to_state !== null ? { to: row.to_state } : {}),
        ...(row.detail !== null ? { detail: row.detail } : {})
      })
    )
  })

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
    countActive,
    listActive,
    listByIssue,
    list,
    listDue,
    appendEvent,
    events
  })
})

/** `TaskStore` on the ambient `SqlClient`; provide `D1Client.layer({ db })` (or `D1Storage.layer`). */
export const layer: Layer.Layer<TaskStore.TaskStore, never, SqlClient.SqlClient> = Layer.effect(
  TaskStore.TaskStore,
  make
)

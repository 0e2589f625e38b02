/**
 * The task store's shared statement pieces: the active-state terms the partial indexes repeat, the active-task
 * filters, and the watchdog's due-task query. One text for SQLite (Node, D1) and PostgreSQL, but for the index hints
 * (`Dialect.indexedBy`).
 */
import type { TaskStore } from "@porter/core"
import type { SqlClient, Statement } from "effect/sql"
import type { Dialect } from "./dialect.ts"
import { taskColumns } from "./taskRow.ts"

// Written out, not bound: SQLite uses a partial index only when the query repeats the index's WHERE term with the
// same constants (see migrations/0001_init.sql); PostgreSQL's planner proves the same implication from literals.
export const ACTIVE = "state IN ('awaiting_approval', 'queued', 'provisioning', 'running')"
/** A dispatch that may be stuck (queued tasks wait for a slot instead: the sweep admits them in order). */
export const DISPATCHING = "state = 'provisioning'"
/** Where a dispatch may begin (`beginDispatch`): a queued task, or an admitted one. */
export const DISPATCHABLE = "state IN ('queued', 'provisioning')"
/** The states that hold a slot of the active-task limits (`Task.SlotStates`). */
export const SLOTS = "state IN ('provisioning', 'running')"
export const QUEUED = "state = 'queued'"
export const RUNNING = "state = 'running'"
export const LIVENESS = "coalesce(heartbeat_at, started_at, updated_at)"

/** `WHERE` of the active tasks matching `filter`. */
export const activeWhere = (sql: SqlClient.SqlClient, filter: TaskStore.ActiveFilter) =>
  sql.and([
    sql.literal(ACTIVE),
    ...(filter.repo !== undefined ? [sql`repo_key = ${filter.repo.toLowerCase()}`] : []),
    ...(filter.issueNumber !== undefined ? [sql`issue_number = ${filter.issueNumber}`] : []),
    ...(filter.userId !== undefined ? [sql`requested_by_id = ${filter.userId}`] : [])
  ])

/** `tasks … WHERE …`: the active tasks matching `filter`, through the partial index of the filter's main key. */
export const activeFrom = (sql: SqlClient.SqlClient, dialect: Dialect, filter: TaskStore.ActiveFilter) => {
  const index = filter.repo !== undefined
    ? dialect.indexedBy("tasks_active_repo")
    : filter.userId !== undefined
    ? dialect.indexedBy("tasks_active_user")
    : ""
  return sql`tasks ${sql.literal(index)} WHERE ${activeWhere(sql, filter)}`
}

/** `tasks … WHERE …`: the tasks holding a slot of `filter`'s repository (and issue) or requester, through their index. */
export const slotsFrom = (
  sql: SqlClient.SqlClient,
  dialect: Dialect,
  filter: { readonly repo?: string; readonly issueNumber?: number; readonly userId?: number }
) => {
  const index = filter.repo !== undefined
    ? dialect.indexedBy("tasks_slots_repo")
    : dialect.indexedBy("tasks_slots_user")
  return sql`tasks ${sql.literal(index)} WHERE ${
    sql.and([
      sql.literal(SLOTS),
      ...(filter.repo !== undefined ? [sql`repo_key = ${filter.repo.toLowerCase()}`] : []),
      ...(filter.issueNumber !== undefined ? [sql`issue_number = ${filter.issueNumber}`] : []),
      ...(filter.userId !== undefined ? [sql`requested_by_id = ${filter.userId}`] : [])
    ])
  }`
}

/**
 * The watchdog's query: three index range scans (deadline passed; no heartbeat; dispatch stuck), each stopped at
 * `limit`, merged by id. Exported so the benchmarks explain the exact statement.
 */
export const dueStatement = (
  sql: SqlClient.SqlClient,
  dialect: Dialect,
  now: number,
  options: TaskStore.DueOptions
): Statement.Statement<Record<string, unknown>> => {
  const lit = sql.literal
  const silentSince = now - options.heartbeatTimeoutMs
  const untouchedSince = now - options.dispatchTimeoutMs
  return sql`SELECT ${lit(taskColumns)} FROM tasks WHERE id IN (
    SELECT id FROM (SELECT id FROM tasks ${lit(dialect.indexedBy("tasks_due_deadline"))}
      WHERE ${lit(ACTIVE)} AND deadline_at <= ${now} ORDER BY deadline_at LIMIT ${options.limit}) AS deadline
    UNION
    SELECT id FROM (SELECT id FROM tasks ${lit(dialect.indexedBy("tasks_due_heartbeat"))}
      WHERE ${lit(RUNNING)} AND ${lit(LIVENESS)} <= ${silentSince} ORDER BY ${lit(LIVENESS)} LIMIT ${options.limit})
      AS silent
    UNION
    SELECT id FROM (SELECT id FROM tasks ${lit(dialect.indexedBy("tasks_due_dispatch"))}
      WHERE ${lit(DISPATCHING)} AND updated_at <= ${untouchedSince} ORDER BY updated_at LIMIT ${options.limit})
      AS stuck
  ) ORDER BY deadline_at, id LIMIT ${options.limit}`
}

/**
 * The parts of `SqlTaskStore` that are not task rows: webhook deliveries (claimed once, completed, retried by the
 * sweep) and each task's audit trail (`task_events`).
 */
import { type Ids, TaskStore } from "@porter/core"
import { Effect, Schema } from "effect"
import type { SqlClient } from "effect/sql"
import * as Dialect from "./dialect.ts"
import { orStoreError } from "./errors.ts"

const Num = Dialect.Num

const EventRow = Schema.Struct({
  task_id: Schema.String,
  at: Num,
  kind: Schema.String,
  from_state: Schema.NullOr(Schema.String),
  to_state: Schema.NullOr(Schema.String),
  detail: Schema.NullOr(Schema.String)
})
const decodeEvents = Schema.decodeUnknownEffect(Schema.Array(EventRow))

const DeliveryRow = Schema.Struct({
  id: Schema.String,
  received_at: Num,
  payload: Schema.NullOr(Schema.String),
  attempts: Num
})
const decodeDeliveries = Schema.decodeUnknownEffect(Schema.Array(DeliveryRow))

type Service = TaskStore.TaskStore["Service"]

/** The delivery and audit-trail operations of the store, on `sql` in its `dialect`. */
export const make = (
  sql: SqlClient.SqlClient,
  dialect: Dialect.Dialect
): Pick<Service, "claimDelivery" | "completeDelivery" | "retryDeliveries" | "appendEvent" | "events"> => {
  const failed = (operation: string) => orStoreError(operation, dialect.label)
  const query = <A>(operation: string, statement: Effect.Effect<A, unknown>) => statement.pipe(failed(operation))

  // On every webhook's answer: one statement, untraced (a span costs more than building the statement).
  const claimDelivery: Service["claimDelivery"] = (delivery) =>
    Effect.map(
      query(
        "claim delivery",
        sql`INSERT INTO deliveries (id, received_at, payload, attempts)
          VALUES (${delivery.id}, ${delivery.receivedAt}, ${delivery.payload}, 1)
          ON CONFLICT (id) DO NOTHING RETURNING id`
      ),
      (rows) => rows.length === 1
    )

  const completeDelivery: Service["completeDelivery"] = Effect.fn("SqlTaskStore.completeDelivery")(
    function*(id, at) {
      // The payload was only kept for retries; the task row and the audit trail keep what matters.
      yield* query(
        "complete delivery",
        sql`UPDATE deliveries SET completed_at = ${at}, payload = NULL WHERE id = ${id} AND completed_at IS NULL`
      )
    }
  )

  const retryDeliveries: Service["retryDeliveries"] = Effect.fn("SqlTaskStore.retryDeliveries")(
    function*(receivedBefore, limit, at) {
      // The pick is repeated in the UPDATE's own WHERE: PostgreSQL re-checks it against a row another sweep changed
      // while this one waited for it, and then leaves the row out.
      const due = sql`completed_at IS NULL AND received_at < ${receivedBefore}
        AND (retried_at IS NULL OR retried_at < ${receivedBefore})`
      const lease = at === undefined ? sql.literal("") : sql`, retried_at = ${at}`
      const rows = yield* query(
        "retry deliveries",
        sql`UPDATE deliveries SET attempts = attempts + 1${lease} WHERE id IN (
            SELECT id FROM deliveries WHERE ${due} ORDER BY received_at LIMIT ${limit} ${
          sql.literal(dialect.skipLocked)
        }
          ) AND ${due} RETURNING id, received_at, payload, attempts`
      )
      const decoded = yield* decodeDeliveries(rows).pipe(failed("retry deliveries"))
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

  const appendEvent: Service["appendEvent"] = Effect.fn("SqlTaskStore.appendEvent")(function*(event) {
    yield* query(
      "append event",
      sql`INSERT INTO task_events (task_id, at, kind, from_state, to_state, detail)
        VALUES (${event.taskId}, ${event.at}, ${event.kind}, ${event.from ?? null}, ${event.to ?? null},
          ${event.detail ?? null})`
    )
  })

  const events: Service["events"] = Effect.fn("SqlTaskStore.events")(function*(id) {
    const rows = yield* query(
      "read events",
      sql`SELECT task_id, at, kind, from_state, to_state, detail FROM task_events WHERE task_id = ${id}
        ORDER BY at, seq`
    )
    const decoded = yield* decodeEvents(rows).pipe(failed("read events"))
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

  return { claimDelivery, completeDelivery, retryDeliveries, appendEvent, events }
}

/**
 * The parts of `SqlTaskStore` that are not task rows: webhook deliveries (claimed once, completed, retried by the
 * sweep) and each task's audit trail (`task_events`).
 *
 * On SQLite in Node (`sqlite-node`: one connection, statements that block the event loop while they run) claims are
 * committed in groups: the claims made while the event loop turns once (the webhooks answered at the same time) are
 * one multi-row `INSERT … ON CONFLICT DO NOTHING RETURNING id`, one commit. Each claim is still answered only once its
 * row is committed; a group that fails fails every claim in it (each webhook is answered 503 and redelivered). A claim
 * inside a transaction is inserted alone, in that transaction. Other drivers insert each claim on its own (a
 * PostgreSQL pool runs them side by side; D1 claims through its binding, `D1TaskStore`).
 */
import { type Errors, type Ids, TaskStore } from "@porter/core"
import { Context, Deferred, Effect, Exit, Option, Schema } from "effect"
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
type Claim = Parameters<Service["claimDelivery"]>[0]

/** The most deliveries one claim statement inserts (3 parameters each: within every dialect's limits, D1's 100 too). */
export const CLAIM_GROUP = 32

interface Waiting {
  readonly delivery: Claim
  readonly done: Deferred.Deferred<boolean, Errors.StoreError> | undefined
}

/**
 * `claimDelivery`, on `sqlite-node` committing concurrent claims together: the first claim of a group waits one turn
 * of the event loop (`Effect.yieldNow`: the webhooks read meanwhile join it), then inserts the group and answers every
 * claim in it; the others wait for that answer. A group of one is inserted without `RETURNING`.
 */
const claims = (
  sql: SqlClient.SqlClient,
  dialect: Dialect.Dialect,
  failed: <A, R>(effect: Effect.Effect<A, unknown, R>) => Effect.Effect<A, Errors.StoreError, R>
): Service["claimDelivery"] => {
  const texts = new Map<number, string>()
  const textOf = (n: number) => {
    let text = texts.get(n)
    if (text === undefined) {
      const rows = Array.from(
        { length: n },
        (_, i) => dialect.name === "pg" ? `($${3 * i + 1}, $${3 * i + 2}, $${3 * i + 3}, 1)` : "(?, ?, ?, 1)"
      )
      text = `INSERT INTO deliveries (id, received_at, payload, attempts) VALUES ${
        rows.join(", ")
      } ON CONFLICT (id) DO NOTHING RETURNING id`
      texts.set(n, text)
    }
    return text
  }

  /** The ids of `deliveries` (distinct) that were not claimed before. */
  const insert = (deliveries: ReadonlyArray<Claim>): Effect.Effect<ReadonlySet<string>, Errors.StoreError> => {
    const params: Array<unknown> = []
    for (const delivery of deliveries) params.push(delivery.id, delivery.receivedAt, delivery.payload)
    return Effect.map(
      failed(sql.unsafe<{ readonly id: string }>(textOf(deliveries.length), params)),
      (rows) => new Set(rows.map((row) => row.id))
    )
  }

  /** Inserts a group (a delivery id twice in it: the first claim of it wins) and answers each claim. */
  const flush = (group: ReadonlyArray<Waiting>) => {
    const distinct = new Map<string, Claim>()
    for (const { delivery } of group) if (!distinct.has(delivery.id)) distinct.set(delivery.id, delivery)
    return Effect.onExit(insert([...distinct.values()]), (exit) =>
      Effect.sync(() => {
        const answered = new Set<string>()
        for (const waiting of group) {
          const first = !answered.has(waiting.delivery.id)
          answered.add(waiting.delivery.id)
          if (waiting.done !== undefined) {
            Deferred.doneUnsafe(waiting.done, Exit.map(exit, (inserted) => first && inserted.has(waiting.delivery.id)))
          }
        }
      }))
  }

  const alone: Service["claimDelivery"] = (delivery) =>
    Effect.map(insert([delivery]), (inserted) => inserted.has(delivery.id))
  if (sql.driver !== "sqlite-node") return alone

  // A claim alone: without `RETURNING` (cheaper in SQLite), claimed if it changed a row (the driver's `run()` result).
  const single = "INSERT INTO deliveries (id, received_at, payload, attempts) VALUES (?, ?, ?, 1) " +
    "ON CONFLICT (id) DO NOTHING"
  const first = (delivery: Claim) =>
    Effect.flatMap(
      failed(sql.unsafe(single, [delivery.id, delivery.receivedAt, delivery.payload]).raw),
      (result) => {
        const changes = (result as { readonly changes?: unknown } | null)?.changes
        return typeof changes === "number"
          ? Effect.succeed(changes === 1)
          : Effect.die(new Error("sqlite-node: a write's result has no number of changes"))
      }
    )

  let collecting: Array<Waiting> | undefined

  return (delivery) =>
    Effect.withFiber((fiber) => {
      if (Option.isSome(Context.getOption(fiber.context, sql.transactionService))) return first(delivery)
      if (collecting !== undefined) {
        const done = Deferred.makeUnsafe<boolean, Errors.StoreError>()
        collecting.push({ delivery, done })
        if (collecting.length >= CLAIM_GROUP) collecting = undefined
        return Deferred.await(done)
      }
      const group: Array<Waiting> = [{ delivery, done: undefined }]
      collecting = group
      return Effect.uninterruptible(Effect.andThen(
        Effect.yieldNow,
        Effect.suspend(() => {
          if (collecting === group) collecting = undefined
          if (group.length === 1) return first(delivery)
          // The first claim of the group is its own: of the same id later in the group, it wins.
          return Effect.map(flush(group), (inserted) => inserted.has(delivery.id))
        })
      ))
    })
}

/** The delivery and audit-trail operations of the store, on `sql` in its `dialect`. */
export const make = (
  sql: SqlClient.SqlClient,
  dialect: Dialect.Dialect
): Pick<Service, "claimDelivery" | "completeDelivery" | "retryDeliveries" | "appendEvent" | "events"> => {
  const failed = (operation: string) => orStoreError(operation, dialect.label)
  const query = <A>(operation: string, statement: Effect.Effect<A, unknown>) => statement.pipe(failed(operation))

  const claimDelivery = claims(sql, dialect, failed("claim delivery"))

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

/**
 * `TaskStore` on Cloudflare D1: `@porter/sql`'s `SqlTaskStore` (the SQL is shared with SQLite on Node and with
 * PostgreSQL; the schema is `migrations/`), with one D1 shortcut — with a `D1Client` in context (the Worker) the
 * delivery claim goes to the D1 binding itself (prepared once, `run()`, `meta.changes`), skipping `effect/sql`'s
 * statement compiling and result rows on every webhook's answer.
 *
 * Cannot: run transactions (D1 has none across requests): every write is one statement, which is all the store needs
 * on SQLite.
 */
import type { D1Database, D1PreparedStatement } from "@cloudflare/workers-types"
import { D1Client } from "@effect/sql-d1"
import { Errors, TaskStore } from "@porter/core"
import { SqlTaskStore } from "@porter/sql"
import { Effect, Layer, Option } from "effect"
import type { SqlClient } from "effect/sql"

/** The watchdog's due-task statement on SQLite (the benchmarks explain it). */
export const dueStatement = SqlTaskStore.dueStatement

const CLAIM = "INSERT INTO deliveries (id, received_at, payload, attempts) VALUES (?1, ?2, ?3, 1) " +
  "ON CONFLICT (id) DO NOTHING"

/** `claimDelivery` on the D1 binding: one `run()` of a statement prepared once (no trigger writes on `deliveries`). */
const claimOnBinding = (db: D1Database): TaskStore.TaskStore["Service"]["claimDelivery"] => {
  let prepared: D1PreparedStatement | undefined
  return (delivery) =>
    Effect.tryPromise({
      try: () =>
        (prepared ??= db.prepare(CLAIM)).bind(delivery.id, delivery.receivedAt, delivery.payload).run().then(
          (result) => result.meta.changes === 1
        ),
      catch: (cause) =>
        new Errors.StoreError({
          message: `D1 claim delivery failed: ${cause instanceof Error ? cause.message : String(cause)}`,
          cause
        })
    })
}

/**
 * Builds the store on the ambient `SqlClient` (D1: `D1Client.layer({ db })`, whose binding the delivery claim then
 * uses directly).
 */
export const make: Effect.Effect<TaskStore.TaskStore["Service"], never, SqlClient.SqlClient> = Effect.gen(function*() {
  const store = yield* SqlTaskStore.make
  const client = yield* Effect.serviceOption(D1Client.D1Client)
  return Option.isSome(client)
    ? TaskStore.TaskStore.of({ ...store, claimDelivery: claimOnBinding(client.value.config.db) })
    : store
})

/** `TaskStore` on the ambient `SqlClient`; provide `D1Client.layer({ db })` (or `D1Storage.layer`). */
export const layer: Layer.Layer<TaskStore.TaskStore, never, SqlClient.SqlClient> = Layer.effect(
  TaskStore.TaskStore,
  make
)

/**
 * `SessionStore` on effect's `SqlClient`: the `web_sessions` table of migration `0005_web.sql` (Cloudflare D1, SQLite).
 * Expired rows are removed by `deleteExpired`, which `Sessions` calls now and then when someone signs in.
 *
 * Cannot: run on PostgreSQL unchanged (no migration for it here; the statements themselves are portable).
 */
import { Errors } from "@porter/core"
import { Effect, Layer, Option, Schema } from "effect"
import { SqlClient } from "effect/sql"
import { SessionStore, StoredSession } from "./SessionStore.ts"

const Row = Schema.Struct({
  id_hash: Schema.String,
  user_id: Schema.Int,
  login: Schema.String,
  token: Schema.String,
  created_at: Schema.Number,
  expires_at: Schema.Number
})
const decodeRows = Schema.decodeUnknownEffect(Schema.Array(Row))

const storeError = (operation: string) => (cause: unknown) =>
  new Errors.StoreError({
    message: `web sessions: ${operation} failed: ${cause instanceof Error ? cause.message : String(cause)}`,
    cause
  })

/** `SessionStore` on a `SqlClient` (the `web_sessions` table). */
export const make: Effect.Effect<SessionStore["Service"], never, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient

  return SessionStore.of({
    put: (session) =>
      sql`INSERT INTO web_sessions (id_hash, user_id, login, token, created_at, expires_at)
        VALUES (${session.idHash}, ${session.userId}, ${session.login}, ${session.token}, ${session.createdAt},
          ${session.expiresAt})
        ON CONFLICT (id_hash) DO UPDATE SET user_id = excluded.user_id, login = excluded.login,
          token = excluded.token, created_at = excluded.created_at, expires_at = excluded.expires_at`.pipe(
        Effect.asVoid,
        Effect.mapError(storeError("put"))
      ),
    get: (idHash) =>
      sql`SELECT id_hash, user_id, login, token, created_at, expires_at FROM web_sessions WHERE id_hash = ${idHash}`
        .pipe(
          Effect.flatMap(decodeRows),
          Effect.map((rows) =>
            Option.map(Option.fromNullishOr(rows[0]), (row) =>
              new StoredSession({
                idHash: row.id_hash,
                userId: row.user_id,
                login: row.login,
                token: row.token,
                createdAt: row.created_at,
                expiresAt: row.expires_at
              }))
          ),
          Effect.mapError(storeError("get"))
        ),
    delete: (idHash) =>
      sql`DELETE FROM web_sessions WHERE id_hash = ${idHash} RETURNING id_hash`.pipe(
        Effect.map((rows) => rows.length > 0),
        Effect.mapError(storeError("delete"))
      ),
    deleteExpired: (now) =>
      sql`DELETE FROM web_sessions WHERE expires_at < ${now} RETURNING id_hash`.pipe(
        Effect.map((rows) => rows.length),
        Effect.mapError(storeError("delete expired"))
      )
  })
})

/** @category layers */
export const layer: Layer.Layer<SessionStore, never, SqlClient.SqlClient> = Layer.effect(SessionStore, make)

/**
 * `TokenStore` on effect's `SqlClient`: the `personal_tokens` table of migration `0008_mcp_tokens.sql` (Cloudflare D1,
 * SQLite; `migrations/postgres/0008_mcp_tokens.sql` on PostgreSQL). Expired rows are removed by `deleteExpired`, which
 * `PersonalTokens` calls now and then when a token is made.
 */
import { Errors } from "@porter/core"
import { Effect, Layer, Option, Schema, SchemaTransformation } from "effect"
import { SqlClient } from "effect/sql"
import { StoredToken, TokenStore } from "./TokenStore.ts"

/** A whole number: SQLite's integers arrive as numbers, PostgreSQL's `BIGINT` as `bigint`. */
const Num = Schema.Union([
  Schema.Number,
  Schema.BigInt.pipe(
    Schema.decodeTo(
      Schema.Number,
      SchemaTransformation.transform({ decode: (big: bigint) => Number(big), encode: (n: number) => BigInt(n) })
    )
  )
])

const Row = Schema.Struct({
  id: Schema.String,
  token_hash: Schema.String,
  user_id: Num,
  login: Schema.String,
  name: Schema.String,
  github_token: Schema.String,
  created_at: Num,
  expires_at: Num
})
const decodeRows = Schema.decodeUnknownEffect(Schema.Array(Row))

const toToken = (row: typeof Row.Type) =>
  new StoredToken({
    id: row.id,
    hash: row.token_hash,
    userId: row.user_id,
    login: row.login,
    name: row.name,
    githubToken: row.github_token,
    createdAt: row.created_at,
    expiresAt: row.expires_at
  })

const storeError = (operation: string) => (cause: unknown) =>
  new Errors.StoreError({
    message: `personal tokens: ${operation} failed: ${cause instanceof Error ? cause.message : String(cause)}`,
    cause
  })

/** `TokenStore` on a `SqlClient` (the `personal_tokens` table). */
export const make: Effect.Effect<TokenStore["Service"], never, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const columns = sql`id, token_hash, user_id, login, name, github_token, created_at, expires_at`

  return TokenStore.of({
    put: (token) =>
      sql`INSERT INTO personal_tokens (id, token_hash, user_id, login, name, github_token, created_at, expires_at)
        VALUES (${token.id}, ${token.hash}, ${token.userId}, ${token.login}, ${token.name}, ${token.githubToken},
          ${token.createdAt}, ${token.expiresAt})
        ON CONFLICT (id) DO UPDATE SET token_hash = excluded.token_hash, user_id = excluded.user_id,
          login = excluded.login, name = excluded.name, github_token = excluded.github_token,
          created_at = excluded.created_at, expires_at = excluded.expires_at`.pipe(
        Effect.asVoid,
        Effect.mapError(storeError("put"))
      ),
    findByHash: (hash) =>
      sql`SELECT ${columns} FROM personal_tokens WHERE token_hash = ${hash}`.pipe(
        Effect.flatMap(decodeRows),
        Effect.map((rows) => Option.map(Option.fromNullishOr(rows[0]), toToken)),
        Effect.mapError(storeError("find"))
      ),
    listByUser: (userId) =>
      sql`SELECT ${columns} FROM personal_tokens WHERE user_id = ${userId} ORDER BY created_at DESC, id DESC`.pipe(
        Effect.flatMap(decodeRows),
        Effect.map((rows) => rows.map(toToken)),
        Effect.mapError(storeError("list"))
      ),
    revoke: (userId, id) =>
      sql`DELETE FROM personal_tokens WHERE id = ${id} AND user_id = ${userId} RETURNING id`.pipe(
        Effect.map((rows) => rows.length > 0),
        Effect.mapError(storeError("revoke"))
      ),
    deleteExpired: (now) =>
      sql`DELETE FROM personal_tokens WHERE expires_at < ${now} RETURNING id`.pipe(
        Effect.map((rows) => rows.length),
        Effect.mapError(storeError("delete expired"))
      )
  })
})

/** @category layers */
export const layer: Layer.Layer<TokenStore, never, SqlClient.SqlClient> = Layer.effect(TokenStore, make)

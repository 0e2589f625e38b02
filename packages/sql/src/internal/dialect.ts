/**
 * What differs between the SQL dialects the stores speak, in one place: SQLite (Node's `node:sqlite` through
 * `@effect/sql-sqlite-node`, Cloudflare D1 through `@effect/sql-d1`) and PostgreSQL (`@effect/sql-pg`). Every other
 * statement is one text for both. The dialect is the `SqlClient`'s own (its statement compiler's).
 */
import { Effect, Schema, SchemaTransformation } from "effect"
import type { SqlClient } from "effect/sql"

export interface Dialect {
  readonly name: "sqlite" | "pg"
  /** For messages: `SQLite`, `PostgreSQL`. */
  readonly label: string
  /**
   * `INDEXED BY <index>` on SQLite, which is told which partial index a hot query uses (without statistics its
   * planner may prefer another, and a dropped index then fails loudly); nothing on PostgreSQL, whose planner has
   * statistics.
   */
  readonly indexedBy: (index: string) => string
  /**
   * Appended to a subquery that picks rows to claim: PostgreSQL locks them and skips rows another transaction holds,
   * so concurrent claimers take disjoint rows; SQLite has one writer at a time and needs nothing.
   */
  readonly skipLocked: string
  /** A JSON object (text) with `patch`'s keys set over `stored`'s, both SQL expressions of JSON text. */
  readonly jsonMerge: (stored: string, patch: string) => string
}

export const sqlite: Dialect = {
  name: "sqlite",
  label: "SQLite",
  indexedBy: (index) => `INDEXED BY ${index}`,
  skipLocked: "",
  jsonMerge: (stored, patch) => `json_patch(${stored}, ${patch})`
}

export const pg: Dialect = {
  name: "pg",
  label: "PostgreSQL",
  indexedBy: () => "",
  skipLocked: "FOR UPDATE SKIP LOCKED",
  jsonMerge: (stored, patch) => `(${stored}::jsonb || ${patch}::jsonb)::text`
}

/** The client's dialect; a client of another dialect is a defect (the schema exists for these two only). */
export const of = (sql: SqlClient.SqlClient): Effect.Effect<Dialect> =>
  sql.onDialectOrElse({
    sqlite: () => Effect.succeed(sqlite),
    pg: () => Effect.succeed(pg),
    orElse: () => Effect.die(new Error("Porter's SQL stores support SQLite (Node, D1) and PostgreSQL only"))
  })

/**
 * A whole-number column: PostgreSQL's `BIGINT` (timestamps, GitHub ids) and `count(*)` arrive as `bigint`, SQLite's
 * integers as `number`. Values stay within 2^53 (epoch milliseconds, GitHub ids).
 */
export const Num = Schema.Union([
  Schema.Number,
  Schema.BigInt.pipe(
    Schema.decodeTo(
      Schema.Number,
      SchemaTransformation.transform({ decode: (big: bigint) => Number(big), encode: (n: number) => BigInt(n) })
    )
  )
])

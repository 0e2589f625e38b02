/**
 * Applies a dialect's migrations through `SqlClient`, at start, so that several processes starting at once (replicas
 * on one PostgreSQL, a restarted bot beside the old one on one SQLite file) apply each migration exactly once:
 *
 * - each migration runs in its own transaction, with the bookkeeping row that records it: all of it or nothing;
 * - that transaction holds the migrations lock — PostgreSQL: `pg_advisory_xact_lock(3, 0)`; SQLite: the write lock
 *   (`BEGIN IMMEDIATE`) — and checks, under it, that the migration is still pending: a process that waited finds
 *   it applied and moves on.
 *
 * Bookkeeping: SQLite records names in `d1_migrations`, the table and format wrangler uses for D1, so one SQLite
 * schema has one history whichever tool applied it; PostgreSQL in `porter_migrations`. D1 itself is migrated by
 * wrangler or `@porter/d1`'s `Migrations` (a D1 binding has no transactions).
 *
 * Cannot: roll a migration back, or notice a file edited after it was applied (only names are recorded).
 */
import { Effect, Schema } from "effect"
import { SqlClient } from "effect/sql"
import * as Dialect from "./internal/dialect.ts"
import * as MigrationText from "./MigrationText.ts"

/** A migration file: its name and its SQL. */
export interface Migration {
  /** The file name, e.g. `0001_init.sql`; what the bookkeeping table records. */
  readonly name: string
  readonly sql: string
}

/** A migration (or the bookkeeping around it) failed; `migration` names the file when known. */
export class MigrationError extends Schema.TaggedError<MigrationError>()("MigrationError", {
  message: Schema.String,
  migration: Schema.optional(Schema.String),
  cause: Schema.optional(Schema.Defect())
}) {}

/** Advisory lock keys (class, object) Porter takes on PostgreSQL: 1 repositories, 2 requesters, 3 migrations. */
export const MIGRATIONS_LOCK = [3, 0] as const

const bookkeeping = {
  sqlite: {
    table: "d1_migrations",
    create: `CREATE TABLE IF NOT EXISTS d1_migrations (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      name TEXT UNIQUE,
      applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL
    )`
  },
  pg: {
    table: "porter_migrations",
    create: `CREATE TABLE IF NOT EXISTS porter_migrations (
      id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      name TEXT UNIQUE NOT NULL,
      applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
    )`
  }
} as const

const failure = (what: string, migration?: string) => (cause: unknown) =>
  new MigrationError({
    message: `${what} failed: ${cause instanceof Error ? cause.message : String(cause)}`,
    cause,
    ...(migration !== undefined ? { migration } : {})
  })

const byName = (a: Migration, b: Migration) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)

/** The client's bookkeeping, splitting and lock; the bookkeeping table is made (under the lock) if missing. */
const prepare = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const dialect = yield* Dialect.of(sql)
  const books = bookkeeping[dialect.name]
  const locked = <A, E>(effect: Effect.Effect<A, E>) =>
    sql.withTransaction(
      dialect.name === "pg"
        ? Effect.andThen(sql`SELECT pg_advisory_xact_lock(${MIGRATIONS_LOCK[0]}, ${MIGRATIONS_LOCK[1]})`, effect)
        : effect
    )
  yield* locked(sql.unsafe(books.create).unprepared).pipe(Effect.mapError(failure(`creating ${books.table}`)))
  return {
    sql,
    table: sql(books.table),
    locked,
    split: dialect.name === "pg" ? MigrationText.splitPostgres : MigrationText.splitSqlite
  }
})

/**
 * Applies the migrations not yet recorded, in name order, each under the migrations lock, and returns the names this
 * call applied (none when another process applied them first). A failing migration leaves nothing of itself behind
 * and stops the run.
 */
export const apply = Effect.fn("Migrator.apply")(function*(migrations: ReadonlyArray<Migration>) {
  const { locked, split, sql, table } = yield* prepare
  const applied: Array<string> = []
  for (const migration of [...migrations].sort(byName)) {
    const done = yield* locked(Effect.gen(function*() {
      const seen = yield* sql`SELECT name FROM ${table} WHERE name = ${migration.name}`
      if (seen.length > 0) return false
      for (const statement of split(migration.sql)) yield* sql.unsafe(statement).unprepared
      yield* sql`INSERT INTO ${table} (name) VALUES (${migration.name})`
      return true
    })).pipe(Effect.mapError(failure(`migration ${migration.name}`, migration.name)))
    if (done) applied.push(migration.name)
  }
  return applied
})

/** Names of the migrations applied so far, in order. */
export const applied = Effect.fn("Migrator.applied")(function*() {
  const { sql, table } = yield* prepare
  const rows = yield* sql<{ readonly name: string }>`SELECT name FROM ${table} ORDER BY id`.pipe(
    Effect.mapError(failure("reading the applied migrations"))
  )
  return rows.map((row) => row.name)
})

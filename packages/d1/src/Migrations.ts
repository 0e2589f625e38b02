/**
 * Applies SQL migrations to a D1 binding the way `wrangler d1 migrations apply` does: files in
 * name order, each recorded in the `d1_migrations` table, so a database set up by either one can
 * be carried on by the other. Each migration runs as one D1 batch (all of it or nothing).
 *
 * This module is platform neutral (it takes the migrations' text); `@porter/d1/testing` reads
 * them from `migrations/` in Node. Node hosts on SQLite or PostgreSQL use `@porter/sql`'s `Migrator` (transactions and
 * a lock) with the same files.
 *
 * Cannot: roll a migration back, or detect a file edited after it was applied (wrangler cannot
 * either: only names are recorded).
 */
import type { D1Database } from "@cloudflare/workers-types"
import { MigrationText, Migrator } from "@porter/sql"
import { Effect } from "effect"

/** A migration file: its name (what `d1_migrations.name` records) and text. */
export type Migration = Migrator.Migration

/** A migration (or the bookkeeping around it) failed; `migration` names the file when known. */
export const MigrationError = Migrator.MigrationError
export type MigrationError = Migrator.MigrationError

/** The subset of a `D1Database` migrations need (Miniflare's proxy and the Worker binding both fit). */
export type MigrationTarget = Pick<D1Database, "prepare" | "batch">

const TABLE = "d1_migrations"

/** Splits a file into statements like SQLite (and wrangler): `MigrationText.splitSqlite`. */
export const splitStatements = MigrationText.splitSqlite

const run = <A>(what: string, promise: () => Promise<A>, migration?: string) =>
  Effect.tryPromise({
    try: promise,
    catch: (cause) =>
      new MigrationError({
        message: `${what} failed: ${cause instanceof Error ? cause.message : String(cause)}`,
        cause,
        ...(migration !== undefined ? { migration } : {})
      })
  })

/** Names of the migrations already applied, in order (creates the bookkeeping table if needed). */
export const applied = Effect.fn("Migrations.applied")(function*(db: MigrationTarget) {
  yield* run("creating d1_migrations", () =>
    db.prepare(
      `CREATE TABLE IF NOT EXISTS ${TABLE} (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT UNIQUE,
        applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL
      )`
    ).run())
  const rows = yield* run(
    "reading d1_migrations",
    () => db.prepare(`SELECT name FROM ${TABLE} ORDER BY id`).all<{ name: string }>()
  )
  return rows.results.map((row) => row.name)
})

/**
 * Applies the migrations not yet recorded, in name order, and returns the names it applied. A
 * failing migration leaves nothing of itself behind and stops the run.
 */
export const apply = Effect.fn("Migrations.apply")(function*(
  db: MigrationTarget,
  migrations: ReadonlyArray<Migration>
) {
  const done = new Set(yield* applied(db))
  const pending = [...migrations]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .filter((migration) => !done.has(migration.name))
  for (const migration of pending) {
    const statements = splitStatements(migration.sql).map((statement) => db.prepare(statement))
    yield* run(
      `migration ${migration.name}`,
      () => db.batch([...statements, db.prepare(`INSERT INTO ${TABLE} (name) VALUES (?)`).bind(migration.name)]),
      migration.name
    )
  }
  return pending.map((migration) => migration.name)
})

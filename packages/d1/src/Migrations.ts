/**
 * Applies SQL migrations to a D1 binding the way `wrangler d1 migrations apply` does: files in
 * name order, each recorded in the `d1_migrations` table, so a database set up by either one can
 * be carried on by the other. Each migration runs as one D1 batch (all of it or nothing).
 *
 * This module is platform neutral (it takes the migrations' text); `@porter/d1/testing` reads
 * them from `migrations/` in Node.
 *
 * Cannot: roll a migration back, or detect a file edited after it was applied (wrangler cannot
 * either: only names are recorded).
 */
import type { D1Database } from "@cloudflare/workers-types"
import { Effect, Schema } from "effect"

export interface Migration {
  /** The file name, e.g. `0001_init.sql`; what `d1_migrations.name` records. */
  readonly name: string
  readonly sql: string
}

/** The subset of a `D1Database` migrations need (Miniflare's proxy and the Worker binding both fit). */
export type MigrationTarget = Pick<D1Database, "prepare" | "batch">

const TABLE = "d1_migrations"

type Token = "semi" | "ws" | "other" | "explain" | "create" | "temp" | "trigger" | "end"
type State = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7

// SQLite's own `sqlite3_complete` automaton (complete.c), which wrangler also uses: a `;` ends a
// statement except inside `CREATE TRIGGER … BEGIN … END`.
// States: 0 invalid, 1 start, 2 normal, 3 explain, 4 create, 5 trigger, 6 semi, 7 end.
const columns: Record<Token, number> = { semi: 0, ws: 1, other: 2, explain: 3, create: 4, temp: 5, trigger: 6, end: 7 }
const transitions: ReadonlyArray<ReadonlyArray<State>> = [
  [1, 0, 2, 3, 4, 2, 2, 2],
  [1, 1, 2, 3, 4, 2, 2, 2],
  [1, 2, 2, 2, 2, 2, 2, 2],
  [1, 3, 3, 2, 4, 2, 2, 2],
  [1, 4, 2, 2, 2, 4, 5, 2],
  [6, 5, 5, 5, 5, 5, 5, 5],
  [6, 6, 5, 5, 5, 5, 5, 7],
  [1, 7, 5, 5, 5, 5, 5, 5]
]

const keyword = (word: string): Token => {
  switch (word.toLowerCase()) {
    case "explain":
      return "explain"
    case "create":
      return "create"
    case "temp":
    case "temporary":
      return "temp"
    case "trigger":
      return "trigger"
    case "end":
      return "end"
    default:
      return "other"
  }
}

/** Splits a file into statements (comments kept inside statements, empty ones dropped). */
export const splitStatements = (text: string): Array<string> => {
  const statements: Array<string> = []
  let state: State = 0
  let start = 0
  let useful = false
  let i = 0
  const push = (end: number) => {
    const statement = text.slice(start, end).trim()
    if (useful && statement.length > 0) statements.push(statement)
    start = end + 1
    useful = false
  }
  while (i < text.length) {
    const char = text[i]!
    let token: Token
    if (char === ";") {
      token = "semi"
    } else if (/\s/.test(char)) {
      token = "ws"
    } else if (char === "-" && text[i + 1] === "-") {
      const end = text.indexOf("\n", i)
      i = end === -1 ? text.length - 1 : end
      token = "ws"
    } else if (char === "/" && text[i + 1] === "*") {
      const end = text.indexOf("*/", i + 2)
      i = end === -1 ? text.length - 1 : end + 1
      token = "ws"
    } else if (char === "'" || char === "\"" || char === "`" || char === "[") {
      const close = char === "[" ? "]" : char
      let j = i + 1
      // Doubled quotes escape themselves ('it''s').
      while (j < text.length && !(text[j] === close && text[j + 1] !== close)) j += text[j] === close ? 2 : 1
      i = j
      token = "other"
    } else if (/[A-Za-z0-9_$\u0080-\uffff]/.test(char)) {
      let j = i
      while (j + 1 < text.length && /[A-Za-z0-9_$\u0080-\uffff]/.test(text[j + 1]!)) j++
      token = keyword(text.slice(i, j + 1))
      i = j
    } else {
      token = "other"
    }
    if (token !== "semi" && token !== "ws") useful = true
    state = transitions[state]![columns[token]]!
    if (state === 1 && token === "semi") push(i)
    i++
  }
  push(text.length)
  return statements
}

/** A migration (or the bookkeeping around it) failed; `migration` names the file when known. */
export class MigrationError extends Schema.TaggedError<MigrationError>()("MigrationError", {
  message: Schema.String,
  migration: Schema.optional(Schema.String),
  cause: Schema.optional(Schema.Defect())
}) {}

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

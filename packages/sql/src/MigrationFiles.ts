/**
 * The migration files, read from disk (Node): the repository's `migrations/` — SQLite's, which D1 (wrangler) applies
 * too — and `migrations/postgres/` — PostgreSQL's, the same schema in its dialect (wrangler reads only the `.sql`
 * files directly in `migrations/`, so the subdirectory is invisible to it).
 *
 * Cannot: find the files outside this repository's layout (pass a directory then).
 */
import { Effect } from "effect"
import { readdir, readFile } from "node:fs/promises"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { type Migration, MigrationError } from "./Migrator.ts"

/** The repository's `migrations/` directory: SQLite (Node) and D1. */
export const sqliteDir: string = fileURLToPath(new URL("../../../migrations/", import.meta.url))

/** The repository's `migrations/postgres/` directory. */
export const postgresDir: string = fileURLToPath(new URL("../../../migrations/postgres/", import.meta.url))

/** The directory of a dialect's migrations. */
export const dirFor = (dialect: "sqlite" | "pg"): string => (dialect === "pg" ? postgresDir : sqliteDir)

/** The `*.sql` files of `dir`, in name order. */
export const read = Effect.fn("MigrationFiles.read")(function*(dir: string) {
  return yield* Effect.tryPromise({
    try: async () => {
      const names = (await readdir(dir)).filter((name) => name.endsWith(".sql")).sort()
      return Promise.all(
        names.map(async (name): Promise<Migration> => ({ name, sql: await readFile(join(dir, name), "utf8") }))
      )
    },
    catch: (cause) => new MigrationError({ message: `cannot read migrations from ${dir}`, cause })
  })
})

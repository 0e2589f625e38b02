/**
 * The migration files, read from disk (Node): the repository's `migrations/` — SQLite's, which D1 (wrangler) applies
 * too — and `migrations/postgres/` — PostgreSQL's, the same schema in its dialect (wrangler reads only the `.sql`
 * files directly in `migrations/`, so the subdirectory is invisible to it).
 *
 * Installed from a registry, the package carries its own copy (`migrations/` next to `dist/`, put there by `prepack`);
 * in a checkout the repository's directory is read, so a new migration is seen at once.
 *
 * Cannot: find the files anywhere else (pass a directory then).
 */
import { Effect } from "effect"
import { readdir, readFile } from "node:fs/promises"
import { join, sep } from "node:path"
import { fileURLToPath } from "node:url"
import { type Migration, MigrationError } from "./Migrator.ts"

/**
 * Installed (this module's path is inside a `node_modules`), the package's own copy; in a checkout, the repository's
 * directory — even while `npm pack` has put a copy in the package (it is removed again after packing).
 */
const root: string = ((): string => {
  const here = fileURLToPath(import.meta.url)
  return here.split(sep).includes("node_modules")
    ? fileURLToPath(new URL("../migrations/", import.meta.url))
    : fileURLToPath(new URL("../../../migrations/", import.meta.url))
})()

/** The `migrations/` directory: SQLite (Node) and D1. */
export const sqliteDir: string = root

/** The `migrations/postgres/` directory. */
export const postgresDir: string = join(root, "postgres")

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

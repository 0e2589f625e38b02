/**
 * A host's data directory (Node): where the SQLite database lives by default, and where a single-process host keeps
 * the secrets it generated for itself when none were configured (the secret store's encryption key, the machines'
 * callback-token key), so that a restart can read what the previous start wrote and verify what it signed.
 *
 * Cannot: protect those generated secrets better than the directory's permissions (0700 directory, 0600 files): a
 * copy of the directory is a copy of the keys with the data. Configure the keys (`PORTER_ENCRYPTION_KEY`, …) to keep
 * them elsewhere; several replicas must share configured keys.
 */
import { Effect, Redacted, Schema } from "effect"
import { randomBytes } from "node:crypto"
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises"
import { join, resolve } from "node:path"

/** The data directory could not be made, read or written. */
export class DataDirError extends Schema.TaggedError<DataDirError>()("DataDirError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {}

/** `PORTER_DATA_DIR`'s default, relative to the working directory. */
export const DEFAULT = ".porter-data"

const attempt = <A>(what: string, run: () => Promise<A>) =>
  Effect.tryPromise({
    try: run,
    catch: (cause) =>
      new DataDirError({ message: `${what}: ${cause instanceof Error ? cause.message : String(cause)}`, cause })
  })

/** Makes `dir` (and its parents) if missing, private to this user; returns its absolute path. */
export const ensure = Effect.fn("DataDir.ensure")(function*(dir: string) {
  const path = resolve(dir)
  yield* attempt(`cannot create the data directory ${path}`, () => mkdir(path, { recursive: true, mode: 0o700 }))
  return path
})

/**
 * The secret kept in `dir/file`: read when the file exists, else `generate()`d, written (0600) and returned. Two
 * processes starting at once on a new directory: the exclusive create makes one of them write, the other reads.
 */
export const secret = Effect.fn("DataDir.secret")(function*(
  dir: string,
  file: string,
  generate: () => string = () => randomBytes(32).toString("base64")
) {
  const path = join(yield* ensure(dir), file)
  const existing = yield* attempt(
    `cannot read ${path}`,
    () =>
      readFile(path, "utf8").then((text) => text.trim(), (error: NodeJS.ErrnoException) => {
        if (error.code === "ENOENT") return undefined
        throw error
      })
  )
  if (existing !== undefined && existing.length > 0) return Redacted.make(existing)
  const value = generate()
  const written = yield* attempt(
    `cannot write ${path}`,
    () =>
      writeFile(path, `${value}\n`, { flag: "wx", mode: 0o600 }).then(() => true, (error: NodeJS.ErrnoException) => {
        if (error.code === "EEXIST") return false
        throw error
      })
  )
  if (!written) {
    return Redacted.make(
      yield* attempt(`cannot read ${path}`, () => readFile(path, "utf8")).pipe(
        Effect.map((text) => text.trim())
      )
    )
  }
  yield* attempt(`cannot protect ${path}`, () => chmod(path, 0o600))
  return Redacted.make(value)
})

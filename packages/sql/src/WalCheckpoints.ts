/**
 * WAL checkpoints off the event loop, for a SQLite file on `node:sqlite` (`NodeStorage`).
 *
 * A checkpoint copies the WAL's pages into the database file and syncs both files. By default SQLite runs one in
 * the committing connection whenever the WAL reaches 1,000 pages: in a Node host that is a pause of the event loop
 * of several milliseconds (two syncs), and every request in flight waits for it. Measured with the intake benchmark
 * at 10 connections (bench/RESULTS.md §1): a typical round's p99 7.7–8.6 ms with them, 4.8–5.0 ms with this worker,
 * Probot's 3.9–4.9.
 *
 * Here a worker thread with a connection of its own runs a passive checkpoint every `intervalMs` (one that never
 * waits for the host's readers or writers, and that they never wait for). A passive checkpoint copies only what was
 * committed before it began, and the WAL starts over only once one has copied everything: under writes that never
 * pause the WAL would grow, so while the worker lives the host's connection checkpoints only as a backstop, at
 * `BACKSTOP_PAGES`. Should the worker fail to start, or stop, the host's connection checkpoints as SQLite does by
 * default again.
 *
 * Durability is unchanged: a commit is in the WAL before it is answered, as before (`synchronous` applies to the
 * worker's syncs too); only where the copying runs moves.
 */
import { Effect, Layer, Option } from "effect"
import { SqlClient } from "effect/sql"
import { Worker } from "node:worker_threads"

/** SQLite's own default: a checkpoint once the WAL holds 1,000 pages. */
export const DEFAULT_PAGES = 1_000
/** The host connection's checkpoint while the worker runs: only should the worker fall behind (~40 MiB of WAL). */
export const BACKSTOP_PAGES = 10_000

/** The database file the worker checkpoints, and how. */
export interface Options {
  readonly filename: string
  /** The host connection's `synchronous`, for the worker's syncs too. */
  readonly synchronous: "FULL" | "NORMAL"
  /** Between two checkpoints of the worker (default 100 ms). */
  readonly intervalMs?: number | undefined
}

// CommonJS, run with `eval`: no file to resolve, from the sources, the built package or a bundle alike.
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads")
const { DatabaseSync } = require("node:sqlite")
const db = new DatabaseSync(workerData.filename)
db.exec("PRAGMA synchronous = " + workerData.synchronous)
const checkpoint = db.prepare("PRAGMA wal_checkpoint(PASSIVE)")
const BUSY = new Set([5, 6])
const run = () => {
  try {
    checkpoint.get()
  } catch (error) {
    // Another checkpoint holds the lock (the host's backstop): the next turn copies what is left.
    if (!BUSY.has(error && error.errcode)) throw error
  }
}
let timer
const tick = () => {
  run()
  timer = setTimeout(tick, workerData.intervalMs)
}
parentPort.once("message", () => {
  clearTimeout(timer)
  run()
  db.close()
  parentPort.close()
})
parentPort.postMessage("ready")
tick()
`

/** A running checkpointer: `stop` ends it after one last checkpoint. */
export interface Checkpointer {
  readonly worker: Worker
  readonly stop: () => Promise<void>
}

/**
 * Starts the worker; resolves once its connection is open, rejects if it could not start. `onFailure` is called if
 * it ends before `stop` (an error, or terminated).
 */
export const start = (options: Options, onFailure: (reason: string) => void): Promise<Checkpointer> =>
  new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        filename: options.filename,
        synchronous: options.synchronous,
        intervalMs: options.intervalMs ?? 100
      }
    })
    let ready = false
    let stopping = false
    let exited = false
    let lastError: unknown
    worker.on("error", (error) => {
      lastError = error
    })
    worker.once("exit", (code) => {
      exited = true
      const reason = lastError instanceof Error ? lastError.message : `exited with code ${code}`
      if (!ready) return reject(new Error(`the WAL checkpointer did not start: ${reason}`))
      if (!stopping) onFailure(reason)
    })
    worker.once("message", () => {
      ready = true
      // Once started, it must never keep the host alive (the layer's finalizer stops it); until then it must.
      worker.unref()
      resolve({
        worker,
        stop: () =>
          new Promise<void>((done) => {
            if (stopping || exited) return done()
            stopping = true
            const timer = setTimeout(() => void worker.terminate(), 5_000)
            worker.once("exit", () => {
              clearTimeout(timer)
              done()
            })
            worker.postMessage("stop")
          })
      })
    })
  })

const autocheckpoint = (sql: SqlClient.SqlClient, pages: number) =>
  sql.unsafe(`PRAGMA wal_autocheckpoint = ${pages}`).unprepared

/**
 * For the ambient client's connection to `options.filename`: checkpoints in a worker thread for the layer's
 * lifetime, the connection's own only as a backstop. A worker that cannot start leaves SQLite's default (logged).
 */
export const layer = (
  options: Options,
  /** How the worker starts (tests stop it to see the fallback). */
  starter: typeof start = start
): Layer.Layer<never, never, SqlClient.SqlClient> =>
  Layer.effectDiscard(Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const context = yield* Effect.context<never>()
    const fallBack = (reason: string) =>
      Effect.runForkWith(context)(
        Effect.logWarning("the WAL checkpointer stopped: the host's connection checkpoints again", { reason }).pipe(
          Effect.andThen(autocheckpoint(sql, DEFAULT_PAGES)),
          Effect.ignore
        )
      )
    // The backstop goes in first: a worker that fails later sets SQLite's default back, and nothing overwrites it.
    yield* Effect.ignore(autocheckpoint(sql, BACKSTOP_PAGES))
    const checkpointer = yield* Effect.tryPromise({
      try: () => starter(options, fallBack),
      catch: (error) => (error instanceof Error ? error.message : String(error))
    }).pipe(
      Effect.map(Option.some),
      Effect.catch((reason) =>
        Effect.logWarning("WAL checkpoints stay on the host's connection", { reason }).pipe(
          Effect.andThen(Effect.ignore(autocheckpoint(sql, DEFAULT_PAGES))),
          Effect.as(Option.none())
        )
      )
    )
    if (Option.isNone(checkpointer)) return
    yield* Effect.addFinalizer(() => Effect.promise(checkpointer.value.stop))
  }))

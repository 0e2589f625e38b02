// The SQLite host's WAL checkpoints run in a worker thread (`WalCheckpoints`): the host's connection keeps
// only a backstop, the database file receives what was committed without the host checkpointing, the worker ends
// with the layer, and a worker that stops hands the checkpoints back to the host's connection.
import { SqliteClient } from "@effect/sql-sqlite-node"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { NodeStorage, WalCheckpoints } from "@porter/sql/node"
import { Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"
import { mkdtempSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const dir = mkdtempSync(join(tmpdir(), "porter-wal-checkpoints-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
let files = 0
const freshFile = () => join(dir, `db-${files++}.sqlite`)

const autocheckpoint = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    Effect.map(sql<{ wal_autocheckpoint: number }>`PRAGMA wal_autocheckpoint`, (rows) => rows[0]!.wal_autocheckpoint)
)

/** ~200 KiB committed in 20 transactions: 50+ pages, far below the host's backstop of 10,000. */
const writeRows = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE IF NOT EXISTS rows (id INTEGER PRIMARY KEY, body TEXT NOT NULL)`
  for (let i = 0; i < 20; i++) yield* sql`INSERT INTO rows (body) VALUES (${"x".repeat(10_000)})`
})

const sizeOf = (file: string) => {
  try {
    return statSync(file).size
  } catch {
    return 0
  }
}

/** Polls `check` every 20 ms for up to 5 s of real time (`it.live`). */
const eventually = <E, R>(check: Effect.Effect<boolean, E, R>) =>
  Effect.gen(function*() {
    for (let waited = 0; waited < 5_000; waited += 20) {
      if (yield* check) return true
      yield* Effect.sleep(20)
    }
    return yield* check
  })

describe("WAL checkpoints in a worker thread", () => {
  it.live("the host's connection keeps a backstop only; the worker copies the WAL into the database file", () => {
    const file = freshFile()
    return Effect.gen(function*() {
      assert.strictEqual(yield* autocheckpoint, WalCheckpoints.BACKSTOP_PAGES)
      const before = sizeOf(file)
      yield* writeRows
      // Without a checkpoint the rows are only in the WAL; the host never runs one below 10,000 pages.
      const copied = yield* eventually(Effect.sync(() => sizeOf(file) >= before + 200_000))
      assert.isTrue(copied, `the database file stayed at ${sizeOf(file)} bytes (was ${before})`)
    }).pipe(Effect.provide(NodeStorage.clientLayer({ _tag: "sqlite", filename: file })))
  })

  it.live("the worker ends with the layer; the data is in the database file and the WAL is gone", () => {
    const file = freshFile()
    return Effect.gen(function*() {
      yield* writeRows.pipe(Effect.provide(NodeStorage.clientLayer({ _tag: "sqlite", filename: file })))
      // A worker left running would hold the file open: the host's close is then not the last, and the WAL stays.
      assert.strictEqual(sizeOf(`${file}-wal`), 0)
      const count = yield* Effect.flatMap(
        SqlClient.SqlClient,
        (sql) => sql<{ n: number }>`SELECT count(*) AS n FROM rows`
      ).pipe(Effect.provide(NodeStorage.clientLayer({ _tag: "sqlite", filename: file })))
      assert.strictEqual(count[0]!.n, 20)
    })
  })

  it.live("a worker that stops hands the checkpoints back to the host's connection", () => {
    const file = freshFile()
    let worker: WalCheckpoints.Checkpointer | undefined
    const starter: typeof WalCheckpoints.start = (options, onFailure) =>
      WalCheckpoints.start(options, onFailure).then((started) => (worker = started))
    // The bare client (NodeStorage's would start a checkpointer of its own).
    const layer = Layer.provideMerge(
      WalCheckpoints.layer({ filename: file, synchronous: "NORMAL" }, starter),
      SqliteClient.layer({ filename: file })
    )
    return Effect.gen(function*() {
      assert.isDefined(worker)
      assert.strictEqual(yield* autocheckpoint, WalCheckpoints.BACKSTOP_PAGES)
      yield* Effect.promise(() => worker!.worker.terminate())
      const restored = yield* eventually(Effect.map(autocheckpoint, (pages) => pages === WalCheckpoints.DEFAULT_PAGES))
      assert.isTrue(restored, `wal_autocheckpoint stayed ${yield* autocheckpoint}`)
    }).pipe(Effect.provide(layer))
  })

  it.live("a worker that cannot start leaves SQLite's own checkpoints on the host's connection", () => {
    const file = freshFile()
    const layer = Layer.provideMerge(
      WalCheckpoints.layer(
        { filename: file, synchronous: "NORMAL" },
        () => Promise.reject(new Error("no worker threads here"))
      ),
      SqliteClient.layer({ filename: file })
    )
    return Effect.gen(function*() {
      assert.strictEqual(yield* autocheckpoint, WalCheckpoints.DEFAULT_PAGES)
    }).pipe(Effect.provide(layer))
  })

  it.live("a checkpointer that cannot open its file does not start, and says why", () =>
    Effect.gen(function*() {
      const failure = yield* Effect.flip(Effect.tryPromise(() =>
        WalCheckpoints.start({ filename: join(dir, "missing", "db.sqlite"), synchronous: "NORMAL" }, () => {})
      ))
      assert.include(String(failure.cause), "the WAL checkpointer did not start")
    }))
})

/**
 * The watchdog at scale: the built Worker in workerd (Miniflare's API) with a local D1 holding 10k, 100k and 1M
 * tasks, its Cron Trigger fired (`scheduled()`, the real sweep: due tasks, orphan machines, unfinished deliveries).
 *
 *   node --conditions=@porter/source bench/watchdog/scale.ts [--sizes 10000,100000,1000000] [--runs 7] [--due 30,300]
 *
 * Rows come from `bench/d1/sweep.ts`'s `fill` (mostly finished tasks over 180 days, one in 200 active and healthy,
 * 500 repositories). Per size:
 * - **listDue in D1**: the sweep's query inside workerd's D1, per query, from a batch of 50 minus a batch of 50
 *   `SELECT 1` (D1 itself reports whole milliseconds only); "D1 reported" is D1's `sql_duration_ms`.
 * - **cron, nothing due**: `scheduled()` end to end (Node → workerd → the sweep → answer), and the workerd process's
 *   CPU for it (`/proc`, workerd and D1's SQLite included). This is the sweep's fixed cost every minute.
 * - **cron, N due**: that many running tasks whose heartbeat stopped 10 minutes ago are added, then one
 *   `scheduled()` times them all out (each: a conditional update, the audit trail, a status comment on GitHub). This
 *   cost follows the due tasks, not the table: GitHub and Fly are a stub on loopback that answers at once.
 */
import type { D1Database } from "@cloudflare/workers-types"
import { D1Client } from "@effect/sql-d1"
import { D1TaskStore } from "@porter/d1"
import * as Local from "@porter/worker/local"
import { Context, Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"
import { fillAll } from "../d1/sweep.ts"
import { cpuMs, fixed, machine, median, table, workerdPids, workerEnv } from "../worker/support.ts"
import * as Stubs from "./stubs.ts"

const args = process.argv.slice(2)
const option = (name: string, fallback: string) => {
  const at = args.indexOf(`--${name}`)
  return at >= 0 && args[at + 1] !== undefined ? args[at + 1]! : fallback
}
const sizes = option("sizes", "10000,100000,1000000").split(",").map(Number)
const runs = Number(option("runs", "7"))
const dueCounts = option("due", "30,300").split(",").map(Number)
const BATCH = 50
const HEARTBEAT_TIMEOUT_MS = 5 * 60_000

/** The sweep's query as the Worker runs it, compiled for `now`. */
const dueQuery = (db: D1Database, now: number) =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const context = yield* Layer.build(D1Client.layer({ db }).pipe(Layer.orDie))
    const sql = Context.get(context, SqlClient.SqlClient)
    return D1TaskStore.dueStatement(sql, now, {
      heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS,
      dispatchTimeoutMs: 3 * 60_000,
      limit: 500
    })
      .compile()
  })))

/** Per-query time inside D1: a batch of the query (counted, so no rows cross the proxy) minus a batch of `SELECT 1`. */
const inD1 = async (db: D1Database, query: string, params: ReadonlyArray<unknown>) => {
  const statements = Array.from({ length: BATCH }, () => db.prepare(`SELECT count(*) FROM (${query})`).bind(...params))
  const empty = Array.from({ length: BATCH }, () => db.prepare("SELECT 1"))
  let t = performance.now()
  await db.batch(empty)
  const baseline = performance.now() - t
  t = performance.now()
  await db.batch(statements)
  return Math.max(0, performance.now() - t - baseline) / BATCH
}

let dueSerial = 0

/** `count` running tasks whose heartbeat stopped 10 minutes ago (deadline still ahead). */
const addDue = (db: D1Database, count: number, now: number) => {
  const from = dueSerial + 1
  dueSerial += count
  return db.prepare(`INSERT INTO tasks (id, state, repo_owner, repo_name, repo_key, issue_number, is_pull_request,
      requested_by_login, requested_by_id, requested_by_type, trigger_kind, trigger_comment_id, delivery_id, agent,
      instructions, timeout_ms, created_at, updated_at, deadline_at, heartbeat_at, started_at, dispatch_attempts)
    WITH RECURSIVE seq(n) AS (SELECT ?1 UNION ALL SELECT n + 1 FROM seq WHERE n < ?2)
    SELECT printf('task_z%025d', n), 'running', 'due', 'repo', 'due/repo', n, 0, 'octocat', 583231, 'User',
      'issue_comment', n, 'due-' || n, 'claude', 'a task the sweep must time out', 1800000,
      ?3 - 900000, ?3 - 600000, ?3 + 900000, ?3 - 600000, ?3 - 900000, 1
    FROM seq`).bind(from, dueSerial, now).run()
}

const timedOut = async (db: D1Database) =>
  (await db.prepare("SELECT count(*) AS n FROM tasks WHERE id LIKE 'task_z%' AND state = 'timed_out'").first<
    { n: number }
  >())?.n ?? 0

interface Row {
  readonly size: number
  readonly fillSeconds: number
  readonly inD1: number
  readonly reported: number
  readonly cronWall: number
  readonly cronCpu: number | undefined
  readonly due: ReadonlyArray<
    { readonly count: number; readonly wall: number; readonly cpu: number | undefined; readonly ended: number }
  >
}

const stubs = await Stubs.start()
const bundle = await Local.bundle()
const rows: Array<Row> = []
console.log(`Machine: ${await machine()}; ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC.\n`)
try {
  for (const size of sizes) {
    const before = new Set(workerdPids())
    const worker = await Local.startPromise({
      script: bundle.code,
      env: workerEnv({ github: stubs.url, fly: `${stubs.url}/v1` })
    })
    try {
      const pids = workerdPids().filter((pid) => !before.has(pid))
      // Healthy active rows are stamped 30 minutes ahead, so none falls due while the rest is measured.
      const started = performance.now()
      await fillAll(
        worker.db,
        size,
        Date.now() + 30 * 60_000,
        (done) => process.stderr.write(`\rfilling… ${done.toLocaleString("en")} / ${size.toLocaleString("en")} tasks `)
      )
      const fillSeconds = (performance.now() - started) / 1000
      process.stderr.write("\n")

      const [query, params] = await dueQuery(worker.db, Date.now())
      const d1Times: Array<number> = []
      const reported: Array<number> = []
      const walls: Array<number> = []
      const cpus: Array<number> = []
      for (let run = 0; run <= runs; run++) {
        const each = await inD1(worker.db, query, params)
        const result = await worker.db.prepare(query).bind(...params).all()
        const cpuBefore = cpuMs(pids)
        const t = performance.now()
        await worker.scheduled()
        const wall = performance.now() - t
        const cpuAfter = cpuMs(pids)
        if (run === 0) continue // warm-up
        d1Times.push(each)
        reported.push(result.meta.timings?.sql_duration_ms ?? result.meta.duration)
        walls.push(wall)
        if (cpuBefore !== undefined && cpuAfter !== undefined) cpus.push(cpuAfter - cpuBefore)
      }

      const due: Array<Row["due"][number]> = []
      for (const count of dueCounts) {
        await addDue(worker.db, count, Date.now())
        const already = await timedOut(worker.db)
        const cpuBefore = cpuMs(pids)
        const t = performance.now()
        await worker.scheduled()
        const wall = performance.now() - t
        const cpuAfter = cpuMs(pids)
        due.push({
          count,
          wall,
          cpu: cpuBefore !== undefined && cpuAfter !== undefined ? cpuAfter - cpuBefore : undefined,
          ended: (await timedOut(worker.db)) - already
        })
      }
      rows.push({
        size,
        fillSeconds,
        inD1: median(d1Times),
        reported: median(reported),
        cronWall: median(walls),
        cronCpu: cpus.length > 0 ? median(cpus) : undefined,
        due
      })
    } finally {
      await worker.close()
    }
  }
} finally {
  await stubs.close()
}

console.log(`### Watchdog sweep at scale (the Worker's Cron Trigger in workerd, local D1)\n`)
console.log(
  `Medians of ${runs} runs after one warm-up; the due-task columns are one run each. CPU: the workerd ` +
    `process (isolate, D1's SQLite, Miniflare's entry Worker), 10 ms resolution.\n`
)
console.log(table(
  [
    "tasks",
    "listDue in D1 ms",
    "D1 reported ms",
    "cron, nothing due: wall ms",
    "workerd CPU ms",
    ...dueCounts.flatMap((n) => [`cron, ${n} due: wall ms`, "workerd CPU ms", "timed out"])
  ],
  rows.map((row) => [
    row.size.toLocaleString("en"),
    fixed(row.inD1, 3),
    fixed(row.reported, 0),
    fixed(row.cronWall, 1),
    fixed(row.cronCpu, 0),
    ...row.due.flatMap((d) => [fixed(d.wall, 0), fixed(d.cpu, 0), `${d.ended}/${d.count}`])
  ])
))
console.log(
  `\nFilling took ${rows.map((r) => `${r.fillSeconds.toFixed(1)} s`).join(", ")}. Stub calls: ` +
    [...stubs.calls()].map(([kind, n]) => `${kind} ${n}`).join(", ") + "."
)
const missed = rows.flatMap((r) =>
  r.due.filter((d) => d.ended !== d.count).map((d) => `${r.size}: ${d.ended}/${d.count}`)
)
if (missed.length > 0) {
  console.error(`FAILED: due tasks not timed out (${missed.join(", ")})`)
  process.exitCode = 1
}

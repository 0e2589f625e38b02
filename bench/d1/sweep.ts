/**
 * The watchdog sweep on a large local D1: fills `tasks` (default 100,000; first argument), a few
 * of them due, then times `listDue` — the query the sweep runs every minute — and prints its
 * `EXPLAIN QUERY PLAN`. Exits with status 1 if the plan scans `tasks` or misses a due task.
 *
 *   node --conditions=@porter/source bench/d1/sweep.ts [tasks] [--runs N] [--due N]
 *   npm run bench:sweep -w packages/d1 -- 1000000
 *
 * `fill` and `fillAll` are shared with `bench/watchdog/scale.ts` (the sweep in the Worker at 10k, 100k and 1M).
 *
 * Times (medians): "D1 reported" is D1's own `meta.timings.sql_duration_ms` (whole milliseconds);
 * "in D1" is the query's cost inside workerd's D1, from a batch of 50 runs minus a batch of 50
 * `SELECT 1`; "full scan" is the same conditions `NOT INDEXED` (D1 reported), for comparison. "round trip" adds
 * Miniflare's Node→workerd proxy (tens of ms on a busy machine; a deployed Worker has no such hop),
 * and "listDue" is the store call, decoding rows into `Task`s included.
 */
import type { D1Database } from "@cloudflare/workers-types"
import { D1Client } from "@effect/sql-d1"
import { Ids, Repo, Task, TaskStore } from "@porter/core"
import { D1TaskStore } from "@porter/d1"
import * as D1Testing from "@porter/d1/testing"
import { Context, Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"

const args = process.argv.slice(2)
const option = (name: string, fallback: number) => {
  const at = args.indexOf(`--${name}`)
  return at >= 0 ? Number(args[at + 1]) : fallback
}
const total = Number(args.find((a, i) => /^\d+$/.test(a) && !args[i - 1]?.startsWith("--")) ?? 100_000)
const runs = option("runs", 15)
const duePerKind = Math.max(1, Math.round(option("due", 30) / 3))

const NOW = 1_800_000_000_000
const DAY = 86_400_000
const sweepOptions: TaskStore.DueOptions = { heartbeatTimeoutMs: 5 * 60_000, dispatchTimeoutMs: 3 * 60_000, limit: 500 }

const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}
const ms = (value: number) => `${value.toFixed(2)} ms`

/**
 * Rows generated inside D1 (one statement per chunk): mostly finished tasks spread over 180 days before `now`,
 * one in 200 active and healthy (deadline 30 minutes after `now`, heartbeat and last update 1 s before it), over
 * 500 repositories. `total` spreads the creation times.
 */
export const fill = (db: D1Database, from: number, to: number, total: number, now: number) =>
  db.prepare(`INSERT INTO tasks (id, state, repo_owner, repo_name, repo_key, issue_number, is_pull_request,
      requested_by_login, requested_by_id, requested_by_type, trigger_kind, trigger_comment_id, delivery_id, agent,
      instructions, timeout_ms, created_at, updated_at, deadline_at, heartbeat_at, started_at, finished_at,
      dispatch_attempts, outcome)
    WITH RECURSIVE seq(n) AS (SELECT ?1 UNION ALL SELECT n + 1 FROM seq WHERE n < ?2)
    SELECT printf('task_%026d', n),
      CASE WHEN n % 200 = 0
        THEN (CASE n % 3 WHEN 0 THEN 'running' WHEN 1 THEN 'queued' ELSE 'provisioning' END)
        ELSE (CASE n % 10 WHEN 0 THEN 'failed' WHEN 1 THEN 'timed_out' WHEN 2 THEN 'cancelled' ELSE 'succeeded' END)
      END,
      'org' || (n % 500), 'repo', 'org' || (n % 500) || '/repo', 1 + n % 300, 0,
      'user' || (n % 2000), n % 2000, 'User', 'issue_comment', n, 'delivery-' || n, 'claude',
      'fix the flaky test', 1800000,
      ?3 - (?2 - n) * ?4,
      CASE WHEN n % 200 = 0 THEN ?3 - 1000 ELSE ?3 - (?2 - n) * ?4 END,
      CASE WHEN n % 200 = 0 THEN ?3 + 1800000 ELSE ?3 - (?2 - n) * ?4 + 1800000 END,
      CASE WHEN n % 200 = 0 THEN ?3 - 1000 END,
      ?3 - (?2 - n) * ?4,
      CASE WHEN n % 200 = 0 THEN NULL ELSE ?3 - (?2 - n) * ?4 + 600000 END,
      1, CASE WHEN n % 200 = 0 THEN NULL ELSE 'pushed' END
    FROM seq`).bind(from, to, now - 60_000, Math.max(1, Math.floor((180 * DAY) / total))).run()

/** Fills `tasks` with `total` rows (`fill`), in chunks of 50,000; `progress` after each. */
export const fillAll = async (db: D1Database, total: number, now: number, progress?: (done: number) => void) => {
  const chunk = 50_000
  for (let from = 1; from <= total; from += chunk) {
    const to = Math.min(total, from + chunk - 1)
    await fill(db, from, to, total, now)
    progress?.(to)
  }
}

let serial = 0
const task = (overrides: Partial<ConstructorParameters<typeof Task.Task>[0]>) =>
  Effect.map(Ids.makeTaskId, (id) =>
    new Task.Task({
      id,
      state: "running",
      repo: new Repo.RepoRef({ owner: "due", name: "repo" }),
      issueNumber: ++serial,
      isPullRequest: false,
      requestedBy: new Repo.Actor({ login: "octocat", id: 583231, type: "User" }),
      triggerKind: "issue_comment",
      triggerCommentId: serial,
      deliveryId: `due-${id}` as Ids.DeliveryId,
      agent: "claude",
      instructions: "a task the sweep must find",
      timeoutMs: 1_800_000,
      createdAt: NOW - DAY,
      updatedAt: NOW - DAY,
      deadlineAt: NOW + DAY,
      dispatchAttempts: 1,
      ...overrides
    }))

/** The three kinds of due task, `duePerKind` of each, written through the store. */
const dueTasks = (store: TaskStore.TaskStore["Service"]) =>
  Effect.gen(function*() {
    const due: Array<Task.Task> = []
    for (let i = 0; i < duePerKind; i++) {
      // Deadline passed (heartbeat fresh), heartbeat missing, dispatch stuck.
      const fresh = NOW - 1_000
      const deadlineAt = NOW - 1 - i
      due.push(yield* task({ startedAt: NOW - 3_000_000, heartbeatAt: fresh, updatedAt: fresh, deadlineAt }))
      due.push(yield* task({ startedAt: NOW - 600_000, heartbeatAt: NOW - 400_000 - i, updatedAt: NOW - 400_000 }))
      due.push(yield* task({ state: "queued", updatedAt: NOW - 200_000 - i }))
    }
    for (const t of due) yield* store.create(t)
    return due.map((t) => t.id)
  })

const main = Effect.gen(function*() {
  const d1 = yield* D1Testing.start()
  const db = d1.db
  const started = performance.now()
  yield* Effect.promise(() =>
    fillAll(db, total, NOW, (done) => process.stdout.write(`\rfilling… ${done.toLocaleString("en")} tasks `))
  )
  const filled = performance.now() - started
  const context = yield* Layer.build(
    D1TaskStore.layer.pipe(Layer.provideMerge(D1Client.layer({ db }).pipe(Layer.orDie)))
  )
  const store = Context.get(context, TaskStore.TaskStore)
  const sql = Context.get(context, SqlClient.SqlClient)
  const due = yield* dueTasks(store)
  const counts = yield* Effect.promise(() =>
    db.prepare(`SELECT count(*) AS n, sum(state IN ('queued', 'provisioning', 'running')) AS active FROM tasks`)
      .first<{ n: number; active: number }>()
  )
  const count = (n: number) => n.toLocaleString("en")
  process.stdout.write(
    `\rfilled ${count(counts!.n)} tasks (${count(counts!.active)} active) in ${(filled / 1000).toFixed(1)} s\n`
  )

  const [query, params] = D1TaskStore.dueStatement(sql, NOW, sweepOptions).compile()
  const plan = yield* Effect.promise(() =>
    db.prepare(`EXPLAIN QUERY PLAN ${query}`).bind(...params).all<{ detail: string }>()
  )
  const naive = `SELECT id FROM tasks NOT INDEXED
    WHERE state IN ('queued', 'provisioning', 'running') AND (deadline_at <= ?1
    OR (state = 'running' AND coalesce(heartbeat_at, started_at, updated_at) <= ?2)
    OR (state IN ('queued', 'provisioning') AND updated_at <= ?3)) ORDER BY deadline_at LIMIT ?4`
  const naiveParams = [
    NOW,
    NOW - sweepOptions.heartbeatTimeoutMs,
    NOW - sweepOptions.dispatchTimeoutMs,
    sweepOptions.limit
  ]

  // D1 reports whole milliseconds; for sub-millisecond figures run the query BATCH times in one
  // D1 batch and subtract a batch of as many `SELECT 1` (which carries the proxy's overhead). The
  // query is wrapped in `count(*)` so that moving result rows through the proxy is not counted.
  const BATCH = 50
  const batched = (text: string, values: ReadonlyArray<unknown>) =>
    Effect.promise(async () => {
      const counted = `SELECT count(*) FROM (${text})`
      const statements = Array.from({ length: BATCH }, () => db.prepare(counted).bind(...values))
      const empty = Array.from({ length: BATCH }, () => db.prepare("SELECT 1"))
      let t = performance.now()
      await db.batch(empty)
      const baseline = performance.now() - t
      t = performance.now()
      await db.batch(statements)
      return Math.max(0, performance.now() - t - baseline) / BATCH
    })

  const reported: Array<number> = []
  const sweepBatched: Array<number> = []
  const scanTimes: Array<number> = []
  const roundTrips: Array<number> = []
  const storeTimes: Array<number> = []
  let found: ReadonlyArray<{ id: string }> = []
  for (let run = 0; run <= runs; run++) {
    let t = performance.now()
    const result = yield* Effect.promise(() => db.prepare(query).bind(...params).all<{ id: string }>())
    const roundTrip = performance.now() - t
    t = performance.now()
    const listed = yield* store.listDue(NOW, sweepOptions)
    const listDue = performance.now() - t
    const sweepEach = yield* batched(query, params)
    // The scan takes whole milliseconds and more: D1's own figure is precise enough.
    const scan = yield* Effect.promise(() => db.prepare(`SELECT count(*) FROM (${naive})`).bind(...naiveParams).all())
    if (run === 0) continue // warm-up
    reported.push(result.meta.timings?.sql_duration_ms ?? result.meta.duration)
    sweepBatched.push(sweepEach)
    scanTimes.push(scan.meta.timings?.sql_duration_ms ?? scan.meta.duration)
    roundTrips.push(roundTrip)
    storeTimes.push(listDue)
    found = listed
  }

  console.log("\nEXPLAIN QUERY PLAN (listDue):")
  for (const row of plan.results) console.log(`  ${row.detail}`)
  const table = [
    ["tasks", total.toLocaleString("en")],
    ["due", String(due.length)],
    ["found", String(found.length)],
    ["sweep, D1 reported", ms(median(reported))],
    ["sweep, in D1", ms(median(sweepBatched))],
    ["full scan, D1 reported", ms(median(scanTimes))],
    ["round trip", ms(median(roundTrips))],
    ["listDue", ms(median(storeTimes))]
  ]
  const widths = table.map(([h, v]) => Math.max(h!.length, v!.length))
  console.log(`\nmedians of ${runs} runs (after one warm-up); "in D1": per query, from batches of ${BATCH}`)
  console.log(table.map(([h], i) => h!.padEnd(widths[i]!)).join("  "))
  console.log(table.map(([, v], i) => v!.padEnd(widths[i]!)).join("  "))

  const scans = plan.results.filter((row) => /^SCAN tasks\b/.test(row.detail))
  const missing = due.filter((id) => !found.some((t) => t.id === id))
  if (scans.length > 0 || missing.length > 0) {
    console.error(`\nFAILED: ${scans.length} scan(s) of tasks, ${missing.length} due task(s) not found`)
    process.exitCode = 1
  }
}).pipe(Effect.scoped)

if (import.meta.main) await Effect.runPromise(main)

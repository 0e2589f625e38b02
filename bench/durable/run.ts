/**
 * Webhook intake of a Node host on durable storage, side by side in one run:
 *
 *   node --conditions=@porter/source bench/durable/run.ts [--connections 1,10,50] [--requests 2000] [--rounds 4]
 *     [--warmup 400]
 *
 * Targets, each a child process (`../intake/embedServer.ts`, `../intake/probotServer.ts`) given the same signed
 * deliveries by the same load generator, in rounds in which they take turns (`../intake/measure.ts`):
 *
 * - *in memory*: Porter embedded in a Node host (`examples/embed-node-bot`'s `Intake`: the real HMAC intake, core's
 *   HTTP app on `node:http`) on the in-memory stores;
 * - *SQLite*: the same host on `@porter/sql`'s SQLite store (`node:sqlite`, a file in a temporary directory, WAL),
 *   twice: `synchronous=NORMAL` (the default: each claim is committed to the WAL before its answer — it survives the
 *   process being killed — and the WAL is synced at checkpoints) and `synchronous=FULL` (the WAL is synced, fsync,
 *   on every commit: it survives power loss too);
 * - *PostgreSQL*: the same host on `@porter/sql`'s PostgreSQL store, a local server started for the run
 *   (`@porter/sql/testing`, unix socket and TCP on loopback) with durable commits (`fsync`, `synchronous_commit`,
 *   `full_page_writes` on); its CPU per request counts the server's processes too;
 * - *Probot*: a Probot app recording each delivery in an in-memory SQLite (the intake benchmark's peer).
 *
 * The hosts stop once the delivery is verified, decoded, parsed and claimed (the one write before the answer), as in
 * the intake benchmark. The target: SQLite ≥ 0.8× the in-memory host's throughput with durable commits (the default,
 * `synchronous=NORMAL`; `FULL`'s figure is shown beside it).
 */
import * as TestPostgres from "@porter/sql/testing"
import { randomBytes } from "node:crypto"
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { startChild } from "../intake/children.ts"
import * as Measure from "../intake/measure.ts"
import { fixed, machine, table } from "../worker/support.ts"

const args = process.argv.slice(2)
const option = (name: string, fallback: string) => {
  const at = args.indexOf(`--${name}`)
  return at >= 0 && args[at + 1] !== undefined ? args[at + 1]! : fallback
}
const levels = option("connections", "1,10,50").split(",").map(Number)
const requests = Number(option("requests", "2000"))
const rounds = Number(option("rounds", "4"))
const warmup = Number(option("warmup", "400"))
if (levels.some((l) => !Number.isInteger(l) || l < 1) || !(requests >= rounds) || !(rounds >= 1)) {
  throw new Error("usage: run.ts [--connections 1,10,50] [--requests N] [--rounds N] [--warmup N]")
}
const perRound = Math.ceil(requests / rounds)
const secret = randomBytes(20).toString("hex")
const encryptionKey = randomBytes(32).toString("base64")

/** `pid` and every process below it (the PostgreSQL server's backends). */
const tree = (pid: number): Array<number> => {
  const children = new Map<number, Array<number>>()
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8")
      const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1])
      children.set(parent, [...(children.get(parent) ?? []), Number(entry)])
    } catch {
      // gone meanwhile
    }
  }
  const all = [pid]
  for (let i = 0; i < all.length; i++) for (const child of children.get(all[i]!) ?? []) all.push(child)
  return all
}

const MEMORY = "Porter embedded, in memory"
const SQLITE = "Porter embedded, SQLite (WAL, synchronous=NORMAL)"
const SQLITE_FULL = "Porter embedded, SQLite (WAL, synchronous=FULL)"
const POSTGRES = "Porter embedded, PostgreSQL (fsync, synchronous_commit)"
const PROBOT = "Probot app (Node)"

console.log(`Machine: ${await machine()}; ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC.`)
console.log(
  `Per target and concurrency level: ${rounds} rounds of ${perRound} deliveries after ${warmup} for warm-up.\n`
)

const postgres = await TestPostgres.startPromise({ durable: true })
const dataDir = mkdtempSync(join(tmpdir(), "porter-bench-durable-"))
const rows: Array<Measure.Row> = []
const targets: Array<Measure.Target> = []
try {
  const embed = (name: string, env: Record<string, string>, pids?: (pid: number) => ReadonlyArray<number>) =>
    startChild("./embedServer.ts", { WEBHOOK_SECRET: secret, PORTER_ENCRYPTION_KEY: encryptionKey, ...env }).then((
      child
    ) => Measure.childTarget(name, child, pids === undefined ? undefined : () => pids(child.pid)))
  targets.push(await embed(MEMORY, { STORAGE: "memory" }))
  targets.push(
    await embed(SQLITE, { STORAGE: "sqlite", DATA_DIR: join(dataDir, "normal"), PORTER_SQLITE_SYNCHRONOUS: "NORMAL" })
  )
  targets.push(
    await embed(SQLITE_FULL, { STORAGE: "sqlite", DATA_DIR: join(dataDir, "full"), PORTER_SQLITE_SYNCHRONOUS: "FULL" })
  )
  targets.push(
    await embed(POSTGRES, { STORAGE: "postgres", DATABASE_URL: postgres.url }, (pid) => [pid, ...tree(postgres.pid)])
  )
  targets.push(Measure.childTarget(PROBOT, await startChild("./probotServer.ts", { WEBHOOK_SECRET: secret })))
  for (const connections of levels) {
    for (const row of await Measure.measure(targets, { secret, connections, warmup, rounds, perRound })) rows.push(row)
  }
} finally {
  for (const target of targets) await target.stop()
  await postgres.stop()
  rmSync(dataDir, { recursive: true, force: true })
}

const at = (name: string, connections: number) => rows.find((r) => r.target === name && r.connections === connections)
console.log("### Intake of a Node host on durable storage, beside the in-memory host and Probot\n")
console.log(table(
  [
    "target",
    "connections",
    "answers/s",
    "p50 ms",
    "p99 ms",
    "CPU ms/req",
    "throughput vs in memory",
    "throughput vs Probot",
    "statuses"
  ],
  rows.map((row) => {
    const memory = at(MEMORY, row.connections)!
    const probot = at(PROBOT, row.connections)!
    return Measure.rowCells(row, [
      row.target === MEMORY ? "" : `${fixed(row.perSecond / memory.perSecond)}×`,
      row.target === PROBOT ? "" : `${fixed(row.perSecond / probot.perSecond)}×`
    ])
  })
))
const ratio = (name: string) =>
  levels.map((connections) => at(name, connections)!.perSecond / at(MEMORY, connections)!.perSecond)
const normal = ratio(SQLITE)
const full = ratio(SQLITE_FULL)
console.log(
  `\nSQLite / in memory at ${levels.join(", ")} connections: synchronous=NORMAL ` +
    `${normal.map((r) => `${fixed(r)}×`).join(", ")} (target ≥ 0.8×: ${
      normal.every((r) => r >= 0.8) ? "met" : "not met"
    }); synchronous=FULL ${full.map((r) => `${fixed(r)}×`).join(", ")}. PostgreSQL's CPU per request includes the ` +
    "server's processes."
)

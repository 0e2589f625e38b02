/**
 * Webhook answer time of the built Worker in workerd, through Miniflare's API (`dispatchFetch`; not
 * `wrangler dev`, whose proxy costs several times the Worker itself), with a local D1 (migrations applied).
 *
 *   node --conditions=@porter/source bench/worker/webhooks.ts [--deliveries N] [--concurrency 1,8,32] [--profile]
 *
 * Every delivery is a signed `issue_comment.created` with its own `X-GitHub-Delivery`, signed before the clock
 * starts. Four Workers, each in its own workerd with a fresh D1 for every row, in the same run:
 *
 * - **Porter, intake only**: the Worker with its background work dropped (`intakeOnly.ts`): `@porter script …`,
 *   answered 202 once the signature is verified, the payload decoded, the command parsed and the delivery claimed
 *   (one D1 insert). This is what the floor compares with.
 * - **Porter, accepted + background**: the real Worker, same deliveries from a commenter with read access. After
 *   the answer, under `waitUntil`, each costs a permission check (cached), a refusal comment and a D1 update, in
 *   the same isolate as the answers being measured — as in production.
 * - **Porter, not for Porter**: an ordinary comment: verified, decoded, parsed, answered 200; nothing written.
 * - **floor**: a bare Worker that verifies the HMAC and inserts one row.
 *
 * GitHub is a stub on loopback that answers at once (installation token, permission `read`, comment created).
 * "workerd CPU" is the workerd process's user+system CPU over the run (D1's SQLite, workerd's HTTP handling,
 * Miniflare's entry Worker and any background work included) divided by the deliveries (Linux `/proc`); "Δ vs
 * floor" is what Porter adds to the floor's figure at the same concurrency: the best estimate here of the
 * isolate's own extra CPU per webhook. `--profile` adds a V8 CPU profile of the isolate (by function).
 */
import * as D1Testing from "@porter/d1/testing"
import * as Build from "@porter/worker/build"
import { COMPATIBILITY_DATE } from "@porter/worker/local"
import { convertV4MiniflareOptions, Log, LogLevel, Miniflare } from "miniflare"
import { randomUUID } from "node:crypto"
import { createServer, type Server } from "node:http"
import { performance } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import { payload, sign, type Signed } from "../intake/deliveries.ts"
import {
  cpuMs,
  fixed,
  FLOOR_WORKER,
  machine,
  percentile,
  profiler,
  type ProfileSummary,
  table,
  workerdPids,
  workerEnv
} from "./support.ts"

const args = process.argv.slice(2)
const option = (name: string) => {
  const at = args.indexOf(`--${name}`)
  return at >= 0 ? args[at + 1] : undefined
}
const deliveries = Number(option("deliveries") ?? 1000)
const levels = (option("concurrency") ?? "1,8,32").split(",").map(Number)
const profiled = Number(option("profiled") ?? 300)
if (levels.some((level) => !Number.isInteger(level) || level < 1) || !(deliveries >= 1)) {
  throw new Error("usage: webhooks.ts [--deliveries N] [--concurrency 1,8,32] [--profile] [--profiled N]")
}
const warmup = 100

/** GitHub, answering what the refusal path asks, at once. */
const stubGitHub = () =>
  new Promise<{ server: Server; url: string; comments: () => number }>((resolve) => {
    let comments = 0
    const server = createServer((request, response) => {
      request.resume()
      request.on("end", () => {
        const url = request.url ?? ""
        const send = (status: number, body: unknown) => {
          response.writeHead(status, { "content-type": "application/json" })
          response.end(JSON.stringify(body))
        }
        if (request.method === "POST" && /\/app\/installations\/\d+\/access_tokens$/.test(url)) {
          return send(201, {
            token: "ghs_benchinstallationtoken",
            expires_at: new Date(Date.now() + 3_600_000).toISOString()
          })
        }
        if (request.method === "GET" && /^\/repos\/[^/]+\/[^/]+\/installation$/.test(url)) return send(200, { id: 31 })
        if (request.method === "GET" && /^\/repos\/[^/]+\/[^/]+\/installation$/.test(url)) return send(200, { id: 31 })
        if (request.method === "GET" && /\/collaborators\/[^/]+\/permission$/.test(url)) {
          return send(200, { permission: "read", role_name: "read", user: { login: "reader" } })
        }
        if (request.method === "POST" && /\/issues\/\d+\/comments$/.test(url)) {
          comments++
          return send(201, { id: 100_000 + comments })
        }
        send(404, { message: "Not Found" })
      })
    })
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      resolve({ server, url: `http://127.0.0.1:${port}`, comments: () => comments })
    })
  })

const FLOOR = FLOOR_WORKER

interface Run {
  readonly worker: string
  readonly profile?: ProfileSummary | undefined
  readonly concurrency: number
  readonly count: number
  readonly perSecond: number
  readonly p50: number
  readonly p90: number
  readonly p99: number
  readonly max: number
  readonly cpuPerDelivery: number | undefined
  readonly statuses: string
}

const start = async (script: string, env: Record<string, string>) => {
  const before = new Set(workerdPids())
  const miniflare = new Miniflare(convertV4MiniflareOptions({
    modules: true,
    script,
    compatibilityDate: COMPATIBILITY_DATE,
    host: "127.0.0.1",
    port: 0,
    inspectorPort: 0,
    bindings: env,
    d1Databases: { DB: `bench-${randomUUID()}` },
    cf: false,
    ...(process.env["BENCH_LOGS"] ? { log: new Log(LogLevel.DEBUG) } : {}),
    handleStructuredLogs: (log) => {
      if (process.env["BENCH_LOGS"]) console.error(log.message.slice(0, 600))
    }
  }))
  const url = await miniflare.ready
  const db = await miniflare.getD1Database("DB")
  await D1Testing.applyMigrations(db as unknown as Parameters<typeof D1Testing.applyMigrations>[0])
  return {
    miniflare,
    url: new URL("/webhooks/github", url).href,
    db,
    pids: workerdPids().filter((pid) => !before.has(pid))
  }
}

type Started = Awaited<ReturnType<typeof start>>

/** Sends `requests` with `concurrency` in flight; answer times in ms. */
const fire = async (worker: Started, requests: ReadonlyArray<Signed>, concurrency: number) => {
  const times: Array<number> = []
  const statuses = new Map<number, number>()
  let next = 0
  const lane = async () => {
    while (next < requests.length) {
      const request = requests[next++]!
      const started = performance.now()
      const response = await worker.miniflare.dispatchFetch(worker.url, {
        method: "POST",
        headers: request.headers,
        body: request.body
      })
      await response.arrayBuffer()
      times.push(performance.now() - started)
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1)
    }
  }
  const began = performance.now()
  await Promise.all(Array.from({ length: concurrency }, lane))
  return { times, statuses, seconds: (performance.now() - began) / 1000 }
}

/** Waits until every claimed delivery was handled (the background work of the accepted path is over). */
const settle = async (worker: Started) => {
  for (let i = 0; i < 600; i++) {
    const row = await worker.db.prepare(
      "SELECT count(*) AS n FROM deliveries WHERE completed_at IS NULL AND payload IS NOT NULL"
    )
      .first<{ n: number }>()
    if ((row?.n ?? 0) === 0) return
    if (process.env["BENCH_LOGS"] && i % 20 === 0) console.error(`settling: ${row?.n} deliveries pending`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error("background work did not finish")
}

interface Tally {
  readonly times: Array<number>
  readonly statuses: Map<number, number>
  seconds: number
  cpu: number | undefined
}

/** One batch of `count` deliveries; answers, time and workerd CPU are added to `tally`. */
const batch = async (
  worker: Started,
  make: () => Signed,
  count: number,
  concurrency: number,
  background: boolean,
  tally: Tally
) => {
  const requests = Array.from({ length: count }, make)
  const cpuBefore = cpuMs(worker.pids)
  const { seconds, statuses, times } = await fire(worker, requests, concurrency)
  if (background) await settle(worker)
  const cpuAfter = cpuMs(worker.pids)
  for (const time of times) tally.times.push(time)
  tally.seconds += seconds
  for (const [status, n] of statuses) tally.statuses.set(status, (tally.statuses.get(status) ?? 0) + n)
  tally.cpu = tally.cpu !== undefined && cpuBefore !== undefined && cpuAfter !== undefined
    ? tally.cpu + cpuAfter - cpuBefore
    : undefined
}

const summarize = (name: string, concurrency: number, tally: Tally): Run => {
  const sorted = [...tally.times].sort((a, b) => a - b)
  return {
    worker: name,
    concurrency,
    count: sorted.length,
    perSecond: sorted.length / tally.seconds,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? Number.NaN,
    cpuPerDelivery: tally.cpu !== undefined ? tally.cpu / sorted.length : undefined,
    statuses: [...tally.statuses].map(([status, n]) => `${n}×${status}`).join(" ")
  }
}

/** The isolate's own CPU by function: a separate pass (the profiler slows the isolate down) at concurrency 8. */
const profile = async (worker: Started, make: () => Signed, background: boolean): Promise<ProfileSummary> => {
  const sampler = await profiler(await worker.miniflare.getInspectorURL())
  try {
    await sampler.start()
    await fire(worker, Array.from({ length: profiled }, make), 8)
    if (background) await settle(worker)
    return await sampler.stop()
  } finally {
    sampler.close()
  }
}

const github = await stubGitHub()
const env = workerEnv({ github: github.url, fly: "http://127.0.0.1:9" })
const secret = env["GITHUB_WEBHOOK_SECRET"]!
const built = await Build.bundle()
const intakeOnly = await Build.bundle({ entryPoint: fileURLToPath(new URL("./intakeOnly.ts", import.meta.url)) })
let commentId = 1_000_000
const accepted = () =>
  sign(secret, JSON.stringify(payload(++commentId, "@porter script make the parser accept ISO weeks")))
const ignored = () => sign(secret, JSON.stringify(payload(++commentId, "Same here, it also fails for 2026-W53.")))

console.log(`# Webhook answer time in workerd\n\n${await machine()}\n`)
console.log(
  `Bundle ${
    (built.gzipBytes / 1024).toFixed(1)
  } KiB gzipped; ${deliveries} deliveries per row after ${warmup} for warm-up.\n`
)

const INTAKE = "Porter, intake only"
const ACCEPTED = "Porter, accepted + background"
const IGNORED = "Porter, not for Porter"
const FLOOR_NAME = "floor (HMAC + insert)"
const workers: ReadonlyArray<readonly [string, string, () => Signed, boolean]> = [
  [INTAKE, intakeOnly.code, accepted, false],
  [ACCEPTED, built.code, accepted, true],
  [IGNORED, built.code, ignored, false],
  [FLOOR_NAME, FLOOR, accepted, false]
]
// Per concurrency level, every Worker gets a fresh workerd and D1; the deliveries go in rounds, each Worker in
// turn, so that a change in the machine's load affects them alike.
const rounds = 5
const runs: Array<Run> = []
for (const concurrency of levels) {
  const started: Array<
    {
      readonly name: string
      readonly worker: Started
      readonly make: () => Signed
      readonly background: boolean
      readonly tally: Tally
    }
  > = []
  try {
    for (const [name, script, make, background] of workers) {
      const worker = await start(script, env)
      started.push({ name, worker, make, background, tally: { times: [], statuses: new Map(), seconds: 0, cpu: 0 } })
      await fire(worker, Array.from({ length: warmup }, make), concurrency)
      if (background) await settle(worker)
    }
    for (let round = 0; round < rounds; round++) {
      const count = Math.ceil(deliveries / rounds)
      for (const entry of started) {
        await batch(entry.worker, entry.make, count, concurrency, entry.background, entry.tally)
      }
    }
    for (const entry of started) {
      const run = summarize(entry.name, concurrency, entry.tally)
      runs.push(
        args.includes("--profile") && concurrency === levels[0]
          ? { ...run, profile: await profile(entry.worker, entry.make, entry.background) }
          : run
      )
    }
  } finally {
    for (const entry of started) await entry.worker.miniflare.dispose()
  }
}
runs.sort((a, b) => workers.findIndex(([name]) => name === a.worker) - workers.findIndex(([name]) => name === b.worker))
github.server.close()

const floorAt = (concurrency: number) => runs.find((r) => r.worker === FLOOR_NAME && r.concurrency === concurrency)
console.log(table(
  [
    "Worker",
    "concurrency",
    "answers/s",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "max ms",
    "workerd CPU ms/delivery",
    "Δ CPU vs floor",
    "statuses"
  ],
  runs.map((run) => {
    const floor = floorAt(run.concurrency)
    const delta = run.cpuPerDelivery !== undefined && floor?.cpuPerDelivery !== undefined
      ? run.cpuPerDelivery - floor.cpuPerDelivery
      : undefined
    return [
      run.worker,
      String(run.concurrency),
      fixed(run.perSecond, 0),
      fixed(run.p50),
      fixed(run.p90),
      fixed(run.p99),
      fixed(run.max, 1),
      fixed(run.cpuPerDelivery),
      run.worker === FLOOR_NAME ? "" : fixed(delta),
      run.statuses
    ]
  })
))
console.log("\nAgainst the floor, same concurrency (throughput ratio; ≥ 0.8 is the target for the intake):\n")
console.log(table(
  ["concurrency", ...workers.filter(([name]) => name !== FLOOR_NAME).map(([name]) => name)],
  levels.map((concurrency) => [
    String(concurrency),
    ...workers.filter(([name]) => name !== FLOOR_NAME).map(([name]) => {
      const run = runs.find((r) => r.worker === name && r.concurrency === concurrency)
      const floor = floorAt(concurrency)
      return run && floor ? `${fixed(run.perSecond / floor.perSecond)}×` : "n/a"
    })
  ])
))
const profiles = runs.filter((run) => run.profile !== undefined)
if (profiles.length > 0) {
  console.log(
    `\nWhere the isolate's time goes (V8 sampling profiler, ${profiled} deliveries at concurrency 8; wall-clock ` +
      "samples, so a busy machine inflates them):\n"
  )
  console.log(table(
    ["Worker", "JS ms/delivery", "of which GC", "native ms/delivery", "top functions (self ms)"],
    profiles.map((run) => [
      run.worker,
      fixed(run.profile!.jsMs / profiled, 3),
      fixed(run.profile!.gcMs / profiled, 3),
      fixed(run.profile!.programMs / profiled, 3),
      run.profile!.top.slice(0, 4).map((t) => `${t.name.split(" ")[0]} ${t.ms.toFixed(0)}`).join(", ")
    ])
  ))
}
console.log(`\nRefusal comments posted by the background work: ${github.comments()}.`)

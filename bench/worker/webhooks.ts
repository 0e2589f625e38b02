/**
 * Webhook answer time of the built Worker in workerd, through Miniflare's API (`dispatchFetch`; not
 * `wrangler dev`, whose proxy costs several times the Worker itself), with a local D1 (migrations applied).
 *
 *   node --conditions=@porter/source bench/worker/webhooks.ts [--deliveries N] [--concurrency 1,8,32]
 *
 * Every delivery is a signed `issue_comment.created` with its own `X-GitHub-Delivery`, signed before the clock
 * starts. Three Workers, each in its own workerd, in the same run:
 *
 * - **Porter, accepted**: `@porter script …` by a commenter with read access. Answered 202 once the signature is
 *   verified, the payload decoded, the command parsed and the delivery claimed (one D1 insert). Under
 *   `waitUntil`, each then costs a permission check (cached), a refusal comment and a D1 update: the answers are
 *   measured while that background work runs in the same isolate, as in production.
 * - **Porter, ignored**: an ordinary comment (not for Porter): verified, decoded, parsed, answered 200.
 * - **floor**: a bare Worker that verifies the HMAC and inserts one row.
 *
 * GitHub is a stub on loopback that answers at once (installation token, permission `read`, comment created), so
 * the figures are the Worker's and D1's. "workerd CPU/delivery" is the workerd process's user+system CPU over the
 * run (background work, D1's SQLite and workerd's HTTP handling included) divided by the deliveries; Linux only.
 */
import { createHmac, randomUUID } from "node:crypto"
import { createServer, type Server } from "node:http"
import { performance } from "node:perf_hooks"
import { convertV4MiniflareOptions, Log, LogLevel, Miniflare } from "miniflare"
import * as D1Testing from "@porter/d1/testing"
import * as Build from "@porter/worker/build"
import { COMPATIBILITY_DATE } from "@porter/worker/local"
import { cpuMs, fixed, machine, percentile, table, workerdPids, workerEnv } from "./support.ts"

const args = process.argv.slice(2)
const option = (name: string) => {
  const at = args.indexOf(`--${name}`)
  return at >= 0 ? args[at + 1] : undefined
}
const deliveries = Number(option("deliveries") ?? 1000)
const levels = (option("concurrency") ?? "1,8,32").split(",").map(Number)
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
          return send(201, { token: "ghs_benchinstallationtoken", expires_at: new Date(Date.now() + 3_600_000).toISOString() })
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

/** An `issue_comment.created` payload with the fields GitHub sends (trimmed of URLs Porter never reads). */
const payload = (id: number, body: string) => ({
  action: "created",
  issue: {
    number: 7,
    title: "The parser rejects ISO weeks",
    body: "Parsing 2026-W05 fails with an error; it should give the Monday of that week.",
    state: "open",
    user: { login: "octocat", id: 1, type: "User" },
    labels: [],
    comments: 3,
    created_at: "2026-11-20T10:00:00Z",
    updated_at: "2026-11-20T10:00:00Z",
    author_association: "OWNER"
  },
  comment: {
    id,
    body,
    user: { login: "reader", id: 7001, type: "User" },
    created_at: "2026-11-20T10:05:00Z",
    updated_at: "2026-11-20T10:05:00Z",
    author_association: "CONTRIBUTOR"
  },
  repository: {
    id: 1296269,
    name: "parser",
    full_name: "octo-org/parser",
    private: false,
    owner: { login: "octo-org", id: 9001, type: "Organization" },
    default_branch: "main"
  },
  sender: { login: "reader", id: 7001, type: "User" },
  installation: { id: 31 }
})

interface Signed {
  readonly body: string
  readonly headers: Record<string, string>
}

const sign = (secret: string, text: string): Signed => ({
  body: text,
  headers: {
    "content-type": "application/json",
    "user-agent": "GitHub-Hookshot/bench",
    "x-github-event": "issue_comment",
    "x-github-delivery": randomUUID(),
    "x-hub-signature-256": `sha256=${createHmac("sha256", secret).update(text).digest("hex")}`
  }
})

const FLOOR = `
const encoder = new TextEncoder()
let key
const hex = (buffer) => [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, "0")).join("")
export default {
  async fetch(request, env) {
    const body = await request.text()
    key ??= crypto.subtle.importKey("raw", encoder.encode(env.GITHUB_WEBHOOK_SECRET), { name: "HMAC", hash: "SHA-256" }, false, ["sign"])
    const expected = "sha256=" + hex(await crypto.subtle.sign("HMAC", await key, encoder.encode(body)))
    const given = request.headers.get("x-hub-signature-256") ?? ""
    let diff = expected.length ^ given.length
    for (let i = 0; i < expected.length; i++) diff |= expected.charCodeAt(i) ^ given.charCodeAt(i)
    if (diff !== 0) return new Response("bad signature", { status: 401 })
    await env.DB.prepare("INSERT INTO deliveries (id, received_at, payload) VALUES (?, ?, NULL) ON CONFLICT DO NOTHING")
      .bind(request.headers.get("x-github-delivery"), Date.now()).run()
    return new Response(null, { status: 202 })
  }
}`

interface Run {
  readonly worker: string
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
    bindings: env,
    d1Databases: { DB: `bench-${randomUUID()}` },
    ...(process.env["BENCH_LOGS"] ? { log: new Log(LogLevel.DEBUG) } : {}),
    handleStructuredLogs: (log) => {
      if (process.env["BENCH_LOGS"]) console.error(log.message.slice(0, 600))
    }
  }))
  const url = await miniflare.ready
  const db = await miniflare.getD1Database("DB")
  await D1Testing.applyMigrations(db as unknown as Parameters<typeof D1Testing.applyMigrations>[0])
  return { miniflare, url: new URL("/webhooks/github", url).href, db, pids: workerdPids().filter((pid) => !before.has(pid)) }
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
      const response = await worker.miniflare.dispatchFetch(worker.url, { method: "POST", headers: request.headers, body: request.body })
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
    const row = await worker.db.prepare("SELECT count(*) AS n FROM deliveries WHERE completed_at IS NULL AND payload IS NOT NULL")
      .first<{ n: number }>()
    if ((row?.n ?? 0) === 0) return
    if (process.env["BENCH_LOGS"] && i % 20 === 0) console.error(`settling: ${row?.n} deliveries pending`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error("background work did not finish")
}

const measure = async (name: string, worker: Started, make: () => Signed, concurrency: number): Promise<Run> => {
  await fire(worker, Array.from({ length: warmup }, make), concurrency)
  await settle(worker)
  const requests = Array.from({ length: deliveries }, make)
  const cpuBefore = cpuMs(worker.pids)
  const { seconds, statuses, times } = await fire(worker, requests, concurrency)
  await settle(worker)
  const cpuAfter = cpuMs(worker.pids)
  const sorted = [...times].sort((a, b) => a - b)
  return {
    worker: name,
    concurrency,
    count: times.length,
    perSecond: times.length / seconds,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? Number.NaN,
    cpuPerDelivery: cpuBefore !== undefined && cpuAfter !== undefined ? (cpuAfter - cpuBefore) / times.length : undefined,
    statuses: [...statuses].map(([status, count]) => `${count}×${status}`).join(" ")
  }
}

const github = await stubGitHub()
const env = workerEnv({ github: github.url, fly: "http://127.0.0.1:9" })
const secret = env["GITHUB_WEBHOOK_SECRET"]!
const built = await Build.bundle()
let commentId = 1_000_000
const accepted = () => sign(secret, JSON.stringify(payload(++commentId, "@porter script make the parser accept ISO weeks")))
const ignored = () => sign(secret, JSON.stringify(payload(++commentId, "Same here, it also fails for 2026-W53.")))

console.log(`# Webhook answer time in workerd\n\n${await machine()}\n`)
console.log(`Bundle ${(built.gzipBytes / 1024).toFixed(1)} KiB gzipped; ${deliveries} deliveries per row after ${warmup} for warm-up.\n`)

const runs: Array<Run> = []
for (const [name, script, make] of [
  ["Porter, accepted", built.code, accepted],
  ["Porter, ignored", built.code, ignored],
  ["floor (HMAC + insert)", FLOOR, accepted]
] as const) {
  for (const concurrency of levels) {
    // A fresh workerd and D1 for every row.
    const worker = await start(script, env)
    try {
      runs.push(await measure(name, worker, make, concurrency))
    } finally {
      await worker.miniflare.dispose()
    }
  }
}
github.server.close()

console.log(table(
  ["Worker", "concurrency", "deliveries", "answers/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "workerd CPU/delivery ms", "statuses"],
  runs.map((run) => [
    run.worker,
    String(run.concurrency),
    String(run.count),
    fixed(run.perSecond, 0),
    fixed(run.p50),
    fixed(run.p90),
    fixed(run.p99),
    fixed(run.max, 1),
    fixed(run.cpuPerDelivery),
    run.statuses
  ])
))
console.log("\nPorter (accepted) against the floor, same concurrency:\n")
console.log(table(
  ["concurrency", "throughput ratio", "p50 ratio", "p99 ratio", "CPU/delivery ratio"],
  levels.map((concurrency) => {
    const porter = runs.find((r) => r.worker === "Porter, accepted" && r.concurrency === concurrency)!
    const floor = runs.find((r) => r.worker.startsWith("floor") && r.concurrency === concurrency)!
    return [
      String(concurrency),
      `${fixed(porter.perSecond / floor.perSecond)}×`,
      `${fixed(porter.p50 / floor.p50)}×`,
      `${fixed(porter.p99 / floor.p99)}×`,
      porter.cpuPerDelivery !== undefined && floor.cpuPerDelivery !== undefined
        ? `${fixed(porter.cpuPerDelivery / floor.cpuPerDelivery)}×`
        : "n/a"
    ]
  })
))
console.log(`\nRefusal comments posted by the accepted runs' background work: ${github.comments()}.`)

/**
 * Webhook intake against its peers, in one run:
 *
 *   node --conditions=@porter/source bench/intake/run.ts [--part workerd,node] [--connections 1,10,50]
 *     [--requests 2000] [--rounds 4] [--warmup N] [--profile]
 *
 * Every target gets the same signed `issue_comment.created` deliveries (`@porter script …`, unique delivery ids,
 * signed before the clock starts) from the same load generator (autocannon, keep-alive, `connections` in flight,
 * `load.ts`), in rounds — each target in turn, `requests / rounds` deliveries each — so that a change in the shared
 * machine's load hits them alike. Answer times are per request; throughput is answers over the time the rounds took.
 *
 * **workerd** (each Worker in its own workerd, started through Miniflare's API — no `wrangler dev` proxy — with a
 * fresh local D1 per concurrency level, migrations applied; requests go to workerd's own socket):
 * - *Porter, intake*: the built Worker with its background work dropped (`bench/worker/intakeOnly.ts`): answered
 *   202 once the signature is verified, the payload decoded, the command parsed and the delivery claimed in D1.
 * - *floor*: a bare Worker that verifies the HMAC (WebCrypto) and inserts one row.
 * - *no-op*: reads the body, answers 202 — workerd's and Miniflare's own cost per request.
 * - *no-op + insert*: reads the body, inserts one row, no HMAC — the no-op plus D1's cost.
 * - *Probot*: a Probot app (npm `probot`) in a Node child process doing the same minimal work (verify, decode,
 *   record one row in SQLite) — `probotServer.ts`.
 *
 * CPU per request is each server's process CPU (`/proc/<pid>/stat` utime + stime: workerd, D1's SQLite and
 * Miniflare's entry Worker included; Node's for Probot) over the rounds, divided by the answers. The isolate's own
 * CPU per webhook is estimated by subtraction: Porter − no-op (what the brief asks), and Porter − (no-op + insert),
 * which also removes D1's SQLite work (on Cloudflare that runs in D1, not in the isolate).
 *
 * **node**: Porter's intake embedded in a Node host (`examples/embed-node-bot` `Intake`: real HMAC intake, core's HTTP
 * app on `node:http`, in-memory stores; `embedServer.ts`) beside the same Probot app, each a child process.
 *
 * Each part starts its own targets, Probot's too, so that every target of a part is as old as the others, and warms
 * them up alike before the rounds: 400 deliveries per target in workerd (about a second of its load), 5,000 in Node
 * (about half a second: the Node targets answer ten times as fast). A Node process's first seconds carry its start's
 * garbage collections (the embedded host's first scavenges copy what loading its modules left: 13–17 ms pauses); a
 * warm-up of 400 there measured them instead of the steady state. `--warmup N` sets both.
 *
 * `--profile` then samples, per part, the targets under load: the Worker's isolate through workerd's inspector, and
 * the embedded intake and the Probot app with V8's profiler inside each process (`profiling.ts`); it prints where
 * the time goes.
 */
import * as D1Testing from "@porter/d1/testing"
import * as Build from "@porter/worker/build"
import { COMPATIBILITY_DATE } from "@porter/worker/local"
import { convertV4MiniflareOptions, Miniflare } from "miniflare"
import { randomBytes, randomUUID } from "node:crypto"
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import {
  bundleModules,
  type CpuProfile,
  fixed,
  FLOOR_WORKER as FLOOR,
  machine,
  profiler,
  type ProfileSummary,
  summarize,
  table,
  workerdPids,
  workerEnv
} from "../worker/support.ts"
import { type Child, startChild } from "./children.ts"
import { pool } from "./deliveries.ts"
import { fire } from "./load.ts"
import * as Measure from "./measure.ts"
import { type Row, rowCells } from "./measure.ts"

const args = process.argv.slice(2)
const option = (name: string, fallback: string) => {
  const at = args.indexOf(`--${name}`)
  return at >= 0 && args[at + 1] !== undefined ? args[at + 1]! : fallback
}
const parts = option("part", "workerd,node").split(",")
const levels = option("connections", "1,10,50").split(",").map(Number)
const requests = Number(option("requests", "2000"))
const rounds = Number(option("rounds", "4"))
const warmupOption = option("warmup", "")
/** Deliveries per target before the rounds: about a second of load in workerd, half a second in Node. */
const warmupOf = (part: "workerd" | "node") =>
  warmupOption !== "" ? Number(warmupOption) : part === "workerd" ? 400 : 5_000
const profiling = args.includes("--profile")
const PROFILED = 5000
if (levels.some((l) => !Number.isInteger(l) || l < 1) || !(requests >= rounds) || !(rounds >= 1)) {
  throw new Error(
    "usage: run.ts [--part workerd,node] [--connections 1,10,50] [--requests N] [--rounds N] [--warmup N] [--profile]"
  )
}
const perRound = Math.ceil(requests / rounds)

const secret = randomBytes(20).toString("hex")

// Workers ---------------------------------------------------------------------------------------------------------

const NOOP = `
export default {
  async fetch(request) {
    await request.arrayBuffer()
    return new Response(null, { status: 202 })
  }
}`

const NOOP_INSERT = `
export default {
  async fetch(request, env) {
    await request.arrayBuffer()
    await env.DB.prepare("INSERT INTO deliveries (id, received_at, payload) VALUES (?, ?, NULL) ON CONFLICT DO NOTHING")
      .bind(request.headers.get("x-github-delivery"), Date.now()).run()
    return new Response(null, { status: 202 })
  }
}`

interface Target extends Measure.Target {
  readonly miniflare?: Miniflare
}

const startWorker = async (name: string, script: string, env: Record<string, string>): Promise<Target> => {
  const before = new Set(workerdPids())
  const miniflare = new Miniflare(convertV4MiniflareOptions({
    modules: true,
    script,
    compatibilityDate: COMPATIBILITY_DATE,
    host: "127.0.0.1",
    port: 0,
    ...(profiling ? { inspectorPort: 0 } : {}),
    bindings: env,
    d1Databases: { DB: `bench-${randomUUID()}` },
    cf: false,
    handleStructuredLogs: () => {}
  }))
  const url = await miniflare.ready
  const db = await miniflare.getD1Database("DB")
  await D1Testing.applyMigrations(db as unknown as Parameters<typeof D1Testing.applyMigrations>[0])
  const pids = workerdPids().filter((pid) => !before.has(pid))
  return {
    name,
    url: new URL("/webhooks/github", url).href,
    pids: () => pids,
    stop: () => miniflare.dispose(),
    miniflare
  }
}

const childTarget = Measure.childTarget

// Measuring (measure.ts) ----------------------------------------------------------------------------------------

/** Warm-up, then `rounds` rounds over `targets` at one concurrency level; one row per target. */
const measure = (targets: ReadonlyArray<Target>, connections: number, part: "workerd" | "node") =>
  Measure.measure(targets, { secret, connections, warmup: warmupOf(part), rounds, perRound })

/** A Probot app of the part's own, as fresh as the part's other targets; its count of recorded deliveries at the end. */
const withProbot = async <A>(run: (probot: Child) => Promise<A>): Promise<A> => {
  const probot = await startChild("./probotServer.ts", { WEBHOOK_SECRET: secret })
  try {
    const result = await run(probot)
    const recorded = await (await fetch(new URL("/bench/count", probot.url))).json() as { n: number }
    console.log(`\nThat part's Probot app recorded ${recorded.n.toLocaleString("en")} deliveries.`)
    return result
  } finally {
    await probot.stop()
  }
}

// Parts -----------------------------------------------------------------------------------------------------------

const PORTER = "Porter Worker, intake"
const FLOOR_NAME = "floor (HMAC + insert)"
const NOOP_NAME = "no-op Worker"
const NOOP_INSERT_NAME = "no-op + insert"
const PROBOT = "Probot app (Node)"
const EMBED = "Porter embedded (Node)"

const workerdPart = async (probot: Child) => {
  const env = {
    ...workerEnv({ github: "http://127.0.0.1:9", fly: "http://127.0.0.1:9" }),
    GITHUB_WEBHOOK_SECRET: secret
  }
  const intakeOnlyEntry = fileURLToPath(new URL("../worker/intakeOnly.ts", import.meta.url))
  const intakeOnly = await Build.bundle({ entryPoint: intakeOnlyEntry })
  const rows: Array<Row> = []
  let profile: ProfileSummary | undefined
  for (const connections of levels) {
    const targets: Array<Target> = []
    try {
      targets.push(await startWorker(PORTER, intakeOnly.code, env))
      targets.push(await startWorker(FLOOR_NAME, FLOOR, env))
      targets.push(await startWorker(NOOP_NAME, NOOP, env))
      targets.push(await startWorker(NOOP_INSERT_NAME, NOOP_INSERT, env))
      targets.push(childTarget(PROBOT, probot))
      for (const row of await measure(targets, connections, "workerd")) rows.push(row)
      if (profiling && connections === levels.at(-1)) {
        // An unminified copy of the same Worker, so that the profile names functions and source files.
        const readable = await Build.bundle({ entryPoint: intakeOnlyEntry, minify: false })
        const porter = await startWorker(PORTER, readable.code, env)
        targets.push(porter)
        await fire(porter.url, pool(secret, 1000), 10)
        const sampler = await profiler(await porter.miniflare!.getInspectorURL())
        await sampler.start()
        await fire(porter.url, pool(secret, 2000), 10)
        profile = await sampler.stop(bundleModules(readable.code))
        sampler.close()
      }
    } finally {
      for (const target of targets) if (target.miniflare) await target.stop()
    }
  }

  const at = (name: string, connections: number) => rows.find((r) => r.target === name && r.connections === connections)
  console.log("### Webhook intake in workerd (local D1), beside the floor and Probot\n")
  console.log(table(
    [
      "target",
      "connections",
      "answers/s",
      "p50 ms",
      "p99 ms",
      "CPU ms/req",
      "throughput vs floor",
      "CPU vs floor",
      "statuses"
    ],
    rows.map((row) => {
      const floor = at(FLOOR_NAME, row.connections)!
      const self = row.target === FLOOR_NAME
      return rowCells(row, [
        self ? "" : `${fixed(row.perSecond / floor.perSecond)}×`,
        self || row.cpuPerRequest === undefined || floor.cpuPerRequest === undefined
          ? ""
          : `${fixed(row.cpuPerRequest / floor.cpuPerRequest)}×`
      ])
    })
  ))
  console.log(
    "\nThe isolate's own CPU per webhook, by subtraction (ms; process CPU per request of the target minus a " +
      "baseline's, same run and concurrency):\n"
  )
  console.log(table(
    [
      "connections",
      "Porter − no-op",
      "Porter − (no-op + insert)",
      "floor − no-op",
      "floor − (no-op + insert)",
      "Porter/floor throughput",
      "Porter/floor CPU"
    ],
    levels.map((connections) => {
      const porter = at(PORTER, connections)!
      const floor = at(FLOOR_NAME, connections)!
      const noop = at(NOOP_NAME, connections)!
      const insert = at(NOOP_INSERT_NAME, connections)!
      const minus = (a: Row, b: Row) =>
        a.cpuPerRequest !== undefined && b.cpuPerRequest !== undefined
          ? fixed(a.cpuPerRequest - b.cpuPerRequest, 3)
          : "n/a"
      return [
        String(connections),
        minus(porter, noop),
        minus(porter, insert),
        minus(floor, noop),
        minus(floor, insert),
        `${fixed(porter.perSecond / floor.perSecond)}×`,
        porter.cpuPerRequest !== undefined && floor.cpuPerRequest !== undefined
          ? `${fixed(porter.cpuPerRequest / floor.cpuPerRequest)}×`
          : "n/a"
      ]
    })
  ))
  if (profile) {
    console.log(
      `\nPorter's isolate under load (V8 sampling profiler through workerd's inspector, an unminified copy of the ` +
        `same Worker, 2,000 deliveries at 10 connections after 1,000 for warm-up; wall-clock samples on the isolate's ` +
        `thread, so a busy machine inflates them): JS ${fixed(profile.jsMs / 2000, 3)} ms/req (GC ` +
        `${fixed(profile.gcMs / 2000, 3)}), native ${fixed(profile.programMs / 2000, 3)} ms/req. Self time by origin:\n`
    )
    console.log(table(
      ["code", "ms/req"],
      profile.areas.filter((a) => a.ms / 2000 >= 0.005).map((a) => [a.name, fixed(a.ms / 2000, 3)])
    ))
    console.log("\nHeaviest calls (inclusive ms per request):\n")
    console.log(
      table(["function", "ms/req"], profile.inclusive.slice(0, 15).map((f) => [f.name.trim(), fixed(f.ms / 2000, 3)]))
    )
  }
  return rows
}

const nodePart = async (probot: Child) => {
  const profileDir = profiling ? mkdtempSync(join(tmpdir(), "porter-bench-prof-")) : undefined
  const embed = await startChild("./embedServer.ts", { WEBHOOK_SECRET: secret })
  const targets = [childTarget(EMBED, embed), childTarget(PROBOT, probot)]
  const rows: Array<Row> = []
  try {
    for (const connections of levels) for (const row of await measure(targets, connections, "node")) rows.push(row)
  } finally {
    await embed.stop()
  }
  const profiles: Array<readonly [string, ProfileSummary]> = []
  if (profileDir !== undefined) {
    // Separate, profiled processes (the profiler's overhead stays out of the figures above), warmed up first; the
    // profile covers the measured deliveries only.
    for (const [name, file] of [[EMBED, "./embedServer.ts"], [PROBOT, "./probotServer.ts"]] as const) {
      const out = join(profileDir, `${file.slice(2, -3)}.cpuprofile`)
      const child = await startChild(file, { WEBHOOK_SECRET: secret, PROFILE_OUT: out })
      await fire(child.url, pool(secret, 1000), 10)
      process.kill(child.pid, "SIGUSR2")
      await new Promise((resolve) => setTimeout(resolve, 200))
      await fire(child.url, pool(secret, PROFILED), 10)
      process.kill(child.pid, "SIGHUP")
      for (let i = 0; i < 100 && !existsSync(out); i++) await new Promise((resolve) => setTimeout(resolve, 100))
      await child.stop()
      profiles.push([name, summarize(JSON.parse(readFileSync(out, "utf8")) as CpuProfile)])
    }
    rmSync(profileDir, { recursive: true, force: true })
  }

  const at = (name: string, connections: number) => rows.find((r) => r.target === name && r.connections === connections)
  console.log("### Intake embedded in a Node host (in-memory layers), beside Probot\n")
  console.log(table(
    [
      "target",
      "connections",
      "answers/s",
      "p50 ms",
      "p99 ms",
      "CPU ms/req",
      "throughput vs Probot",
      "p99 vs Probot",
      "p99 of a round (median) ms",
      "vs Probot",
      "statuses"
    ],
    rows.map((row) => {
      const peer = at(PROBOT, row.connections)!
      const self = row.target === PROBOT
      return rowCells(row, [
        self ? "" : `${fixed(row.perSecond / peer.perSecond)}×`,
        self ? "" : `${fixed(row.p99 / peer.p99)}×`,
        fixed(row.p99OfRounds),
        self ? "" : `${fixed(row.p99OfRounds / peer.p99OfRounds)}×`
      ])
    })
  ))
  if (profiles.length > 0) {
    console.log(
      `\nWhere the CPU goes (V8 sampling profiler inside each process, ${
        PROFILED.toLocaleString("en")
      } deliveries at 10 ` +
        "connections after 1,000 for warm-up; ms per request of self time, by where the code comes from):\n"
    )
    const names = [
      ...new Set(profiles.flatMap(([, p]) => p.areas.filter((a) => a.ms / PROFILED >= 0.005).map((a) => a.name)))
    ]
    console.log(table(
      ["code", ...profiles.map(([name]) => name)],
      [
        [
          "all (JS, GC, native on the main thread)",
          ...profiles.map(([, p]) => fixed((p.jsMs + p.programMs) / PROFILED, 3))
        ],
        ...names.map((
          area
        ) => [area, ...profiles.map(([, p]) => fixed((p.areas.find((a) => a.name === area)?.ms ?? 0) / PROFILED, 3))])
      ]
    ))
    const porter = profiles.find(([name]) => name === EMBED)?.[1]
    if (porter) {
      console.log("\nPorter's heaviest calls (inclusive ms per request; Porter's and Effect's code):\n")
      console.log(table(
        ["function", "ms/req"],
        porter.inclusive.filter((f) => /\.ts:|effect|Http|Schema/.test(f.name)).slice(0, 15).map((
          f
        ) => [f.name.trim(), fixed(f.ms / PROFILED, 3)])
      ))
    }
  }
  return rows
}

// Main ------------------------------------------------------------------------------------------------------------

console.log(`Machine: ${await machine()}; ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC.`)
console.log(
  `Per target and concurrency level: ${rounds} rounds of ${perRound} deliveries after ${
    parts.map((part) => `${warmupOf(part as "workerd" | "node")} (${part})`).join(", ")
  } for warm-up; each part starts its targets afresh.\n`
)
if (parts.includes("workerd")) {
  await withProbot(workerdPart)
  console.log("")
}
if (parts.includes("node")) await withProbot(nodePart)

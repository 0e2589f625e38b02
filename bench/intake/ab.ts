/**
 * Two or more builds of the intake-only Worker (`bench/worker/intakeOnly.ts` entries, e.g. one in a `git worktree` of an older
 * commit) beside the floor, in workerd, for comparing changes: rounds of deliveries in which the targets take turns,
 * each round's CPU per request (workerd's process, as in `bench/intake/run.ts`) paired with the floor's of the same
 * round. Prints, per target, the mean of (target − floor) with its standard error: on a shared machine the pairing
 * removes most of the load's drift, which moves single runs by ±30 %.
 *
 *   node --conditions=@porter/source bench/intake/ab.ts <entry.ts>… [--rounds 16] [--per-round 400]
 *     [--connections 10] [--floor-payload] [--profile]
 *
 * `--floor-payload` adds a floor that stores the body as the delivery's payload (is the row's size the difference?).
 * `--profile` instead samples each target's isolate (2,000 deliveries after 1,000 for warm-up) and prints its
 * heaviest code. Entries are bundled from their own directory, so a worktree's entry gets that worktree's packages.
 */
import * as D1Testing from "@porter/d1/testing"
import * as Build from "@porter/worker/build"
import { COMPATIBILITY_DATE } from "@porter/worker/local"
import { convertV4MiniflareOptions, Miniflare } from "miniflare"
import { randomBytes, randomUUID } from "node:crypto"
import { bundleModules, cpuMs, floorWorker, profiler, workerdPids, workerEnv } from "../worker/support.ts"
import { pool } from "./deliveries.ts"
import { fire } from "./load.ts"

const args = process.argv.slice(2)
const option = (name: string, fallback: string) => {
  const at = args.indexOf(`--${name}`)
  return at >= 0 && args[at + 1] !== undefined ? args[at + 1]! : fallback
}
const entries = args.filter((a) => a.endsWith(".ts"))
const profiling = args.includes("--profile")
const rounds = Number(option("rounds", "16"))
const perRound = Number(option("per-round", "400"))
const connections = Number(option("connections", "10"))
if (entries.length === 0 || !(rounds >= 2) || !(perRound >= 1) || !(connections >= 1)) {
  throw new Error(
    "usage: ab.ts <entry.ts>… [--rounds N ≥ 2] [--per-round N] [--connections N] [--floor-payload] [--profile]"
  )
}

const secret = randomBytes(20).toString("hex")
const env = { ...workerEnv({ github: "http://127.0.0.1:9", fly: "http://127.0.0.1:9" }), GITHUB_WEBHOOK_SECRET: secret }

const floor = floorWorker

interface Target {
  readonly name: string
  readonly url: string
  readonly pids: ReadonlyArray<number>
  readonly miniflare: Miniflare
  readonly code: string
  readonly readable: boolean
  readonly cpu: Array<number>
}

const start = async (name: string, code: string, readable: boolean): Promise<Target> => {
  const before = new Set(workerdPids())
  const miniflare = new Miniflare(convertV4MiniflareOptions({
    modules: true,
    script: code,
    compatibilityDate: COMPATIBILITY_DATE,
    host: "127.0.0.1",
    port: 0,
    bindings: env,
    d1Databases: { DB: `ab-${randomUUID()}` },
    cf: false,
    handleStructuredLogs: () => {},
    ...(profiling ? { inspectorPort: 0 } : {})
  }))
  const url = await miniflare.ready
  const db = await miniflare.getD1Database("DB")
  await D1Testing.applyMigrations(db as unknown as Parameters<typeof D1Testing.applyMigrations>[0])
  const pids = workerdPids().filter((pid) => !before.has(pid))
  return { name, url: new URL("/webhooks/github", url).href, pids, miniflare, code, readable, cpu: [] }
}

const targets: Array<Target> = []
try {
  for (const entry of entries) {
    // Unminified when profiling, so that the profile names functions and source files.
    const built = await Build.bundle({ entryPoint: entry, minify: !profiling })
    targets.push(await start(entry, built.code, true))
  }
  if (args.includes("--floor-payload")) targets.push(await start("floor + payload", floor(true), false))
  targets.push(await start("floor", floor(false), false))

  if (profiling) {
    for (const target of targets) {
      await fire(target.url, pool(secret, 1000), connections)
      const sampler = await profiler(await target.miniflare.getInspectorURL())
      await sampler.start()
      await fire(target.url, pool(secret, 2000), connections)
      const profile = await sampler.stop(target.readable ? bundleModules(target.code) : undefined)
      sampler.close()
      const per = (ms: number) => (ms / 2000).toFixed(3)
      console.log(
        `\n${target.name}: JS ${per(profile.jsMs)}, native ${per(profile.programMs)} ms/req (wall-clock samples)`
      )
      for (const area of profile.areas.slice(0, 10)) console.log(`  ${area.name.padEnd(40)} ${per(area.ms)}`)
      for (const f of profile.top.slice(0, 20)) console.log(`  self ${f.name.trim().padEnd(56)} ${per(f.ms)}`)
    }
  } else {
    for (const target of targets) await fire(target.url, pool(secret, 400), connections)
    for (let r = 0; r < rounds; r++) {
      for (const target of targets) {
        const deliveries = pool(secret, perRound)
        const before = cpuMs(target.pids)
        const fired = await fire(target.url, deliveries, connections)
        const after = cpuMs(target.pids)
        if (fired.statuses.get(202) !== perRound) {
          throw new Error(`${target.name}: answers ${JSON.stringify([...fired.statuses])}`)
        }
        if (before === undefined || after === undefined) throw new Error("no CPU figures (Linux /proc needed)")
        target.cpu.push((after - before) / perRound)
      }
    }
    const base = targets.at(-1)!
    const mean = (values: ReadonlyArray<number>) => values.reduce((a, b) => a + b, 0) / values.length
    console.log(
      `${rounds} rounds of ${perRound} deliveries at ${connections} connections; workerd CPU ms per request:\n`
    )
    for (const target of targets) {
      const diffs = target.cpu.map((cpu, i) => cpu - base.cpu[i]!)
      const diff = mean(diffs)
      const se = Math.sqrt(diffs.reduce((a, d) => a + (d - diff) ** 2, 0) / (diffs.length - 1) / diffs.length)
      console.log(
        `${target.name}\n  mean ${mean(target.cpu).toFixed(3)} (${
          (mean(target.cpu) / mean(base.cpu)).toFixed(2)
        }× the floor), ` +
          `minus the floor ${diff.toFixed(3)} ± ${se.toFixed(3)} (standard error)`
      )
    }
  }
} finally {
  for (const target of targets) await target.miniflare.dispose()
}

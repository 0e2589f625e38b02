/**
 * The built Worker: its size (what `wrangler deploy` uploads; the budget is 225 KiB gzipped) and its cold start
 * in workerd, against an empty Worker started the same way.
 *
 *   node --conditions=@porter/source bench/worker/bundle.ts [--runs N]
 *
 * Cold start, per run: a new workerd (Miniflare) with the bundle, the Worker's bindings and a D1 binding; "ready"
 * is workerd listening (the module is evaluated, Porter's layers are built at module scope); "first answer" is
 * the first `GET /healthz`. "workerd CPU" is the whole workerd process's user+system CPU up to the first answer
 * (workerd's own start included); the difference to the empty Worker is what Porter's module costs. Medians.
 * Exits 1 when the bundle is over budget.
 */
import * as Build from "@porter/worker/build"
import { COMPATIBILITY_DATE } from "@porter/worker/local"
import { convertV4MiniflareOptions, Miniflare } from "miniflare"
import { performance } from "node:perf_hooks"
import { cpuMs, fixed, machine, median, table, workerdPids, workerEnv } from "./support.ts"

const BUDGET_GZIP_BYTES = 225 * 1024
const args = process.argv.slice(2)
const runs = Number(args[args.indexOf("--runs") + 1] ?? "") || 7
const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`

const built = await Build.bundle()
console.log(`Machine: ${await machine()}; ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC.\n`)
console.log("### Worker bundles\n")
console.log(
  `The API Worker: ${kib(built.bytes)} minified, **${kib(built.gzipBytes)} gzipped** (budget ${
    kib(BUDGET_GZIP_BYTES)
  }).\n`
)
console.log(table(
  ["package", "minified", "share"],
  Build.contributors(built.metafile).slice(0, 10).map(({ bytes, name }) => [
    name,
    kib(bytes),
    `${((bytes / built.bytes) * 100).toFixed(1)} %`
  ])
))
const app = await Build.bundleApp()
console.log(
  `\nThe App Worker (web app, MCP server, /openapi.json; no target of its own): ${kib(app.bytes)} minified, ` +
    `**${kib(app.gzipBytes)} gzipped**; ${
      Build.contributors(app.metafile).slice(0, 6).map(({ bytes, name }) => `${name} ${kib(bytes)}`).join(", ")
    }.`
)
console.log("\nLargest files (API Worker):\n")
console.log(table(
  ["file", "minified"],
  Build.largestFiles(built.metafile, 12).map(({ bytes, file }) => [file.replace(/^.*node_modules\//, ""), kib(bytes)])
))

const EMPTY = "export default { fetch() { return new Response(JSON.stringify({ ok: true })) } }"
const env = workerEnv({ github: "http://127.0.0.1:9", fly: "http://127.0.0.1:9" })

const coldStart = async (script: string) => {
  const samples: Array<{ ready: number; first: number; second: number; cpu: number | undefined }> = []
  for (let run = 0; run < runs; run++) {
    const before = new Set(workerdPids())
    const started = performance.now()
    const miniflare = new Miniflare(convertV4MiniflareOptions({
      modules: true,
      script,
      compatibilityDate: COMPATIBILITY_DATE,
      host: "127.0.0.1",
      port: 0,
      bindings: env,
      d1Databases: { DB: "bench-cold-start" },
      cf: false,
      handleStructuredLogs: () => {}
    }))
    try {
      const url = await miniflare.ready
      const ready = performance.now()
      const response = await miniflare.dispatchFetch(new URL("/healthz", url).href)
      await response.text()
      if (response.status !== 200) throw new Error(`GET /healthz answered ${response.status}`)
      const first = performance.now()
      const cpu = cpuMs(workerdPids().filter((pid) => !before.has(pid)))
      await (await miniflare.dispatchFetch(new URL("/healthz", url).href)).text()
      const second = performance.now()
      samples.push({ ready: ready - started, first: first - ready, second: second - first, cpu })
    } finally {
      await miniflare.dispose()
    }
  }
  const of = (pick: (s: (typeof samples)[number]) => number | undefined) => {
    const values = samples.map(pick).filter((v): v is number => v !== undefined)
    return values.length > 0 ? median(values) : undefined
  }
  return { ready: of((s) => s.ready), first: of((s) => s.first), second: of((s) => s.second), cpu: of((s) => s.cpu) }
}

const empty = await coldStart(EMPTY)
const porter = await coldStart(built.code)
console.log(`\nCold start (median of ${runs}):\n`)
console.log(table(
  ["Worker", "workerd ready (ms)", "first answer (ms)", "next answer (ms)", "workerd CPU to first answer (ms)"],
  [
    ["empty Worker", fixed(empty.ready, 0), fixed(empty.first, 1), fixed(empty.second, 1), fixed(empty.cpu, 0)],
    ["Porter", fixed(porter.ready, 0), fixed(porter.first, 1), fixed(porter.second, 1), fixed(porter.cpu, 0)],
    [
      "Porter − empty",
      fixed((porter.ready ?? 0) - (empty.ready ?? 0), 0),
      fixed((porter.first ?? 0) - (empty.first ?? 0), 1),
      "",
      porter.cpu !== undefined && empty.cpu !== undefined ? fixed(porter.cpu - empty.cpu, 0) : "n/a"
    ]
  ]
))

if (built.gzipBytes > BUDGET_GZIP_BYTES) {
  console.error(`\nThe bundle is over budget: ${kib(built.gzipBytes)} gzipped > ${kib(BUDGET_GZIP_BYTES)}.`)
  process.exitCode = 1
}

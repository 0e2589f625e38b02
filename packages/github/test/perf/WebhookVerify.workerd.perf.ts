// Per-delivery CPU of the webhook HMAC check inside workerd (Miniflare) at the Worker's compatibility date: a hand
// WebCrypto path, effect/crypto's Mac.layerWebCrypto, and GitHubWebhooks' own check both ways (`node:crypto`, which
// the Worker uses, and WebCrypto) (verify-worker.ts):
//   node --conditions=@porter/source packages/github/test/perf/WebhookVerify.workerd.perf.ts
// Not part of the test suite. workerd's clocks do not move during a request, so the CPU is read
// from /proc for the workerd process (Linux only): rounds of 10,000 deliveries of a ~7 KB body,
// alternating between the two; prints the medians in µs per delivery.
import { COMPATIBILITY_DATE } from "@porter/worker/local"
import * as esbuild from "esbuild"
import { convertV4MiniflareOptions, Miniflare } from "miniflare"
import { createHmac } from "node:crypto"
import { readdirSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"

const N = 10_000
const ROUNDS = 7
const SECRET = "It's a Secret to Everybody"
const BODY = JSON.stringify({
  action: "created",
  issue: { number: 12, title: "Parser bug", body: "x".repeat(2_500), user: { login: "octocat", id: 1 } },
  comment: { id: 99, body: "@porter claude make the date parser accept ISO weeks", user: { login: "octocat", id: 1 } },
  repository: { full_name: "octo/hello", description: "y".repeat(3_000), owner: { login: "octo", id: 2 } },
  sender: { login: "octocat", id: 1, type: "User" },
  installation: { id: 9 },
  padding: "z".repeat(1_000)
})
const HEX = createHmac("sha256", SECRET).update(BODY, "utf8").digest("hex")

const built = await esbuild.build({
  entryPoints: [fileURLToPath(new URL("./verify-worker.ts", import.meta.url))],
  bundle: true,
  format: "esm",
  platform: "neutral",
  mainFields: ["module", "main"],
  conditions: ["@porter/source", "workerd", "worker", "browser"],
  write: false,
  logLevel: "error"
})
const miniflare = new Miniflare(convertV4MiniflareOptions({
  modules: true,
  script: built.outputFiles[0]!.text,
  compatibilityDate: COMPATIBILITY_DATE,
  bindings: { SECRET, BODY, HEX }
}))
await miniflare.ready

/** Clock ticks (user + system) of every workerd process started by this one. */
const TICK_US = 1_000_000 / 100
const workerdTicks = () => {
  let ticks = 0
  for (const pid of readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      const command = readFileSync(`/proc/${pid}/cmdline`, "utf8")
      if (Number(fields[1]) === process.pid && command.includes("workerd")) {
        ticks += Number(fields[11]) + Number(fields[12])
      }
    } catch {
      // gone meanwhile
    }
  }
  return ticks
}

const run = async (impl: string, n: number) => {
  const res = await miniflare.dispatchFetch(`http://worker.test/?impl=${impl}&n=${n}`)
  const { ok } = await res.json() as { ok: number }
  if (ok !== n) throw new Error(`${impl}: ${ok} of ${n} verified`)
}
const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!

const impls = ["hand", "effect", "node", "webcrypto"]
for (const impl of impls) await run(impl, 2_000) // warm-up
const figures: Record<string, Array<number>> = {}
for (let round = 0; round < ROUNDS; round++) {
  for (const impl of impls) {
    const before = workerdTicks()
    await run(impl, N)
    ;(figures[impl] ??= []).push(((workerdTicks() - before) * TICK_US) / N)
  }
}
await miniflare.dispose()
console.log(JSON.stringify({
  bodyBytes: BODY.length,
  deliveriesPerRound: N,
  rounds: ROUNDS,
  cpuUsPerDelivery: Object.fromEntries(Object.entries(figures).map(([k, v]) => [k, Number(median(v).toFixed(1))])),
  all: figures
}))

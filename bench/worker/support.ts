/**
 * Shared by the Worker benchmarks: a configuration that lets the Worker start without any service (a generated
 * App key, a random encryption key), the CPU time of Miniflare's workerd process, and percentiles.
 */
import { generateKeyPairSync, randomBytes } from "node:crypto"
import { readdirSync, readFileSync } from "node:fs"

/** An environment the Worker starts with: every required variable set, services pointed at `urls`. */
export const workerEnv = (urls: { readonly github: string; readonly fly: string }): Record<string, string> => {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 })
  return {
    PORTER_PUBLIC_URL: "http://127.0.0.1:8787",
    GITHUB_API_URL: urls.github,
    GITHUB_GIT_URL: urls.github,
    GITHUB_APP_ID: "4242",
    GITHUB_APP_PRIVATE_KEY: String(privateKey.export({ type: "pkcs1", format: "pem" })),
    GITHUB_WEBHOOK_SECRET: randomBytes(20).toString("hex"),
    PORTER_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
    PORTER_ADMIN_TOKEN: randomBytes(24).toString("hex"),
    FLY_APP_NAME: "porter-bench",
    FLY_API_TOKEN: "fly-bench-token",
    FLY_API_URL: urls.fly
  }
}

const TICKS_PER_SECOND = 100

/** The `workerd` processes started by this Node process (Miniflare's runtime). */
export const workerdPids = (): Array<number> => {
  const pids: Array<number> = []
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8")
      const close = stat.lastIndexOf(")")
      const name = stat.slice(stat.indexOf("(") + 1, close)
      const fields = stat.slice(close + 2).split(" ")
      if (name === "workerd" && Number(fields[1]) === process.pid) pids.push(Number(entry))
    } catch {
      // The process ended while we looked.
    }
  }
  return pids
}

/** User + system CPU milliseconds of the given processes so far (Linux `/proc`); undefined elsewhere. */
export const cpuMs = (pids: ReadonlyArray<number>): number | undefined => {
  if (pids.length === 0) return undefined
  let ticks = 0
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      // Fields 14 and 15 of stat (utime, stime), counted from the state field (3) here.
      ticks += Number(fields[11]) + Number(fields[12])
    } catch {
      return undefined
    }
  }
  return (ticks * 1000) / TICKS_PER_SECOND
}

export const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!

export const median = (values: ReadonlyArray<number>): number => percentile([...values].sort((a, b) => a - b), 50)

export const fixed = (value: number | undefined, digits = 2): string =>
  value === undefined || Number.isNaN(value) ? "n/a" : value.toFixed(digits)

/** A Markdown table. */
export const table = (head: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)))
  const line = (cells: ReadonlyArray<string>) =>
    `| ${cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join(" | ")} |`
  return [
    line(head),
    `|${widths.map((w, i) => (i === 0 ? `:${"-".repeat(w + 1)}` : `${"-".repeat(w + 1)}:`)).join("|")}|`,
    ...rows.map(line)
  ]
    .join("\n")
}

/** The machine, for the record. */
export const machine = async (): Promise<string> => {
  const os = await import("node:os")
  const cpus = os.cpus()
  return `${cpus.length} × ${cpus[0]?.model ?? "?"}, ${
    Math.round(os.totalmem() / 2 ** 30)
  } GiB, Node ${process.version}, ` +
    `load ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}`
}

interface ProfileNode {
  readonly id: number
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
  readonly children?: ReadonlyArray<number>
}

export interface CpuProfile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

export interface ProfileSummary {
  /** Milliseconds sampled in the isolate's JavaScript (script and runtime functions, GC included). */
  readonly jsMs: number
  readonly gcMs: number
  /** Native code on the isolate's thread not attributed to a JavaScript function (workerd, V8). */
  readonly programMs: number
  readonly idleMs: number
  /**
   * `jsMs` with each sample counted for at most the profiler's gap between samples while the isolate runs
   * (`busyGapMs`, the median gap of at most 1 ms). A sample counts the time to the next one, and workerd's sampler
   * takes none while the isolate waits: the sample before a wait would count the whole wait. For an isolate that
   * idles between requests (the gateway's sequential calls), this is the figure; under load both agree.
   */
  readonly busyMs: number
  readonly busyGapMs: number
  /** Self time by function, largest first. */
  readonly top: ReadonlyArray<{ readonly name: string; readonly ms: number }>
  /** Time in a function and what it called (each function counted once per stack), largest first. */
  readonly inclusive: ReadonlyArray<{ readonly name: string; readonly ms: number }>
  /** Self time by where the code comes from: a package (`effect`, `@porter/core`, `probot`), `node` internals, `native`. */
  readonly areas: ReadonlyArray<{ readonly name: string; readonly ms: number }>
}

/**
 * The source files of an unminified esbuild bundle by line: esbuild starts each module's code with a `// <path>`
 * comment. Returns a `locate` for `summarize` (profile line numbers are 0-based).
 */
export const bundleModules = (code: string, script = /script-\d+\.mjs$/) => {
  const starts: Array<readonly [number, string]> = []
  code.split("\n").forEach((line, i) => {
    const match = /^\/\/ ((?:\.\.\/)*(?:node_modules|packages|examples|bench)\/\S+)$/.exec(line)
    if (match) starts.push([i, match[1]!])
  })
  return (frame: { readonly url: string; readonly lineNumber: number }): string | undefined => {
    if (!script.test(frame.url)) return undefined
    let found: string | undefined
    for (const [line, file] of starts) {
      if (line > frame.lineNumber) break
      found = file
    }
    return found === undefined ? undefined : `/${found.replace(/^(\.\.\/)+/, "")}`
  }
}

/** The package (or runtime) a profiled function's URL belongs to. */
export const areaOf = (url: string): string => {
  if (url === "") return "native"
  const nodeModule = /node_modules\/(@[^/]+\/[^/]+|[^/]+)\//.exec(url)
  if (nodeModule) return nodeModule[1]!
  const workspace = /\/(packages|examples)\/([^/]+)\//.exec(url)
  if (workspace) return workspace[1] === "packages" ? `@porter/${workspace[2]}` : `example ${workspace[2]}`
  if (url.startsWith("node:")) return "node"
  if (url.startsWith("cloudflare-internal:")) return "workerd (D1 API)"
  if (/script-\d+\.mjs$/.test(url)) return "the Worker bundle"
  return url.split("/").pop() ?? url
}

/** Self time by function of a V8 CPU profile (the inspector's `Profiler.stop`, or a Node `--cpu-prof` file). */
export const summarize = (
  profile: CpuProfile,
  /** Names the source file of a frame in a bundle (see `bundleModules`); default: the frame's URL. */
  locate?: (frame: ProfileNode["callFrame"]) => string | undefined
): ProfileSummary => {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const parent = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)
  const fileOf = (frame: ProfileNode["callFrame"] | undefined) =>
    (frame ? locate?.(frame) : undefined) ?? frame?.url ?? ""
  const keyOf = (frame: ProfileNode["callFrame"] | undefined) =>
    `${frame?.functionName || "(anonymous)"} ${fileOf(frame).split("/").pop() ?? ""}:${frame?.lineNumber ?? ""}`
  const inclusive = new Map<string, number>()
  const areas = new Map<string, number>()
  const self = new Map<string, number>()
  let total = 0
  let gc = 0
  let program = 0
  let idle = 0
  let busy = 0
  const gapOf = (i: number) => (profile.timeDeltas[i + 1] ?? profile.timeDeltas[i] ?? 0) / 1000
  const shortGaps = profile.samples.map((_, i) => gapOf(i)).filter((ms) => ms <= 1).sort((a, b) => a - b)
  const busyGap = shortGaps[shortGaps.length >> 1] ?? 0
  profile.samples.forEach((id, i) => {
    const ms = gapOf(i)
    const frame = byId.get(id)?.callFrame
    const name = frame?.functionName || "(anonymous)"
    if (name === "(idle)") return void (idle += ms)
    if (name === "(program)") return void (program += ms)
    if (name === "(garbage collector)") gc += ms
    total += ms
    busy += Math.min(ms, busyGap)
    const key = keyOf(frame)
    self.set(key, (self.get(key) ?? 0) + ms)
    const area = name === "(garbage collector)" ? "GC" : areaOf(fileOf(frame))
    areas.set(area, (areas.get(area) ?? 0) + ms)
    const seen = new Set<string>()
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const stackKey = keyOf(byId.get(at)?.callFrame)
      if (seen.has(stackKey)) continue
      seen.add(stackKey)
      inclusive.set(stackKey, (inclusive.get(stackKey) ?? 0) + ms)
    }
  })
  return {
    jsMs: total,
    busyMs: busy,
    busyGapMs: busyGap,
    gcMs: gc,
    programMs: program,
    idleMs: idle,
    top: [...self].map(([name, ms]) => ({ name, ms })).sort((a, b) => b.ms - a.ms).slice(0, 25),
    inclusive: [...inclusive].filter(([name]) => !/^\((root|program|idle)\)/.test(name))
      .map(([name, ms]) => ({ name, ms })).sort((a, b) => b.ms - a.ms).slice(0, 40),
    areas: [...areas].map(([name, ms]) => ({ name, ms })).sort((a, b) => b.ms - a.ms)
  }
}

const openInspector = (inspectorUrl: URL, target: string) =>
  new Promise<WebSocket>((resolve, reject) => {
    const socket = new WebSocket(new URL(`/${target}`, inspectorUrl).href)
    socket.addEventListener("open", () => resolve(socket), { once: true })
    socket.addEventListener("error", () => reject(new Error(`cannot open the inspector of ${target}`)), { once: true })
  })

/**
 * Samples one Worker's isolate through workerd's inspector (Miniflare `inspectorPort`), with the V8 CPU profiler.
 * `target` is the inspector target id (Miniflare names the user Worker `core:user:<name>`); by default the API Worker
 * of a local stack (`core:user:porter`), else a Worker without a name (`core:user:`).
 */
export const profiler = async (inspectorUrl: URL, target?: string) => {
  const socket = target !== undefined
    ? await openInspector(inspectorUrl, target)
    : await openInspector(inspectorUrl, "core:user:porter").catch(() => openInspector(inspectorUrl, "core:user:"))
  let next = 0
  const pending = new Map<number, (result: unknown) => void>()
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown }
    if (message.id !== undefined) pending.get(message.id)?.(message.result)
  })
  const send = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<unknown>((resolve) => {
      const id = ++next
      pending.set(id, resolve)
      socket.send(JSON.stringify({ id, method, params }))
    })
  await send("Profiler.enable")
  await send("Profiler.setSamplingInterval", { interval: 100 })
  return {
    start: () => send("Profiler.start"),
    stop: async (locate?: Parameters<typeof summarize>[1]): Promise<ProfileSummary> => {
      const { profile } = (await send("Profiler.stop")) as { profile: CpuProfile }
      if (process.env["BENCH_PROFILE_OUT"]) {
        const { writeFileSync } = await import("node:fs")
        writeFileSync(process.env["BENCH_PROFILE_OUT"], JSON.stringify(profile))
      }
      return summarize(profile, locate)
    },
    close: () => socket.close()
  }
}

/** Resident memory of a process in KiB (Linux `/proc/<pid>/status` `VmRSS`); undefined elsewhere or once it ended. */
export const rssKiB = (pid: number): number | undefined => {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))
    return match ? Number(match[1]) : undefined
  } catch {
    return undefined
  }
}

/**
 * The floor the intake is measured against: a Worker that only verifies the HMAC (WebCrypto) and inserts one row;
 * `withPayload` also stores the body as the row's payload (as Porter's claim does).
 */
export const floorWorker = (withPayload = false): string => `
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
    await env.DB.prepare("INSERT INTO deliveries (id, received_at, payload) VALUES (?, ?, ${
  withPayload ? "?" : "NULL"
}) ON CONFLICT DO NOTHING")
      .bind(request.headers.get("x-github-delivery"), Date.now()${withPayload ? ", body" : ""}).run()
    return new Response(null, { status: 202 })
  }
}`

export const FLOOR_WORKER: string = floorWorker()

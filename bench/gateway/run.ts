/**
 * The model gateway (issue 15): what Porter adds to a model call, the Worker in workerd and a Node host side by side
 * in one run, each against calling the same model server directly.
 *
 *   node --conditions=@porter/source bench/gateway/run.ts [--calls 300] [--streams 100] [--profile-calls 200]
 *     [--latency-only]   (the latency table alone: no first-token, memory or profiler runs; for quick iterations)
 *
 * The model server (`upstream.ts`) streams Anthropic's Messages events: `message_start` at once, then the answer's
 * text deltas, then `message_delta` (usage) and `message_stop`. Per host:
 *
 * - **latency**: `calls` streamed calls of 20 deltas (1 KiB each, 2 ms apart), alternating direct and through the
 *   gateway (the task's gateway credential in `x-api-key`, the stored key attached by Porter), after 30 warm-up
 *   pairs: time to the first byte of the answer and to its end, p50 and p99; added = gateway − direct, per pair.
 *   Porter's two hosts and the floors take turns within each round (not one after the other), so that all of them
 *   see the same load of the machine; each round starts with the next of them.
 * - **CPU per proxied call**: the host process's CPU time over the gateway calls (`/proc`, all threads: the HTTP
 *   server, the upstream fetch, local D1's SQLite in workerd — an upper bound); in workerd also the isolate's own, from
 *   the V8 profiler on it during `profile-calls` more calls (JavaScript samples, GC included, D1's API left out).
 * - **memory under `streams` concurrent streams**: each 64 deltas of 16 KiB, 30 ms apart (1 MiB, ~2 s, through the
 *   gateway at once, read by the client as they come): the Worker isolate's V8 heap after GC (inspector) and the Node
 *   host's heap after GC (`--expose-gc`), before, at the peak (all streams open) and after. Flat means no answer is
 *   held: 100 streams carry 100 MiB.
 *
 * The workerd host is `porter dev`'s stack (`@porter/worker/stack`, local D1, the GitHub emulator), its task a `script`
 * run that sleeps; the Node host is `nodeHost.ts` (Porter's HTTP app on Node, in-memory stores). Beside them, the
 * floors — what any proxy on the same runtime adds: a bare Worker that forwards with `fetch` and returns the body as it
 * is, the same through a JavaScript stream, and a bare `node:http` proxy in a process of its own (`nodeFloor.ts`), as
 * the Node host is: until December 2026 it ran in this process, with the client and the model server, so it had no
 * hop between processes to make and understated the floor by ~0.4 ms. Never part of `npm test`.
 */
import * as GitHubEmulator from "@porter/testkit/github"
import * as Build from "@porter/worker/build"
import { COMPATIBILITY_DATE } from "@porter/worker/local"
import * as LocalStack from "@porter/worker/stack"
import { Effect } from "effect"
import { convertV4MiniflareOptions, Miniflare } from "miniflare"
import { spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { bundleModules, cpuMs, fixed, machine, percentile, profiler, table, workerdPids } from "../worker/support.ts"
import * as Upstream from "./upstream.ts"

const args = process.argv.slice(2)
const option = (name: string, fallback: string) => {
  const at = args.indexOf(`--${name}`)
  return at >= 0 && args[at + 1] !== undefined ? Number(args[at + 1]!) : Number(fallback)
}
const CALLS = option("calls", "300")
const STREAMS = option("streams", "100")
const PROFILE_CALLS = option("profile-calls", "200")
/** `--profile`: the Worker bundled unminified, and the isolate's functions by time printed. */
const PROFILE = args.includes("--profile")
/** `--latency-only`: the latency table alone (quick iterations). */
const LATENCY_ONLY = args.includes("--latency-only")
const WARMUP = 30
const LATENCY_MODEL = "bench-20-1024-2"
/** The same answer after a model's time to its first token (250 ms). */
const FIRST_TOKEN_MODEL = "bench-20-1024-2-250"
const FIRST_TOKEN_CALLS = option("first-token-calls", "40")
const STREAM_MODEL = "bench-64-16384-30"

interface Target {
  readonly url: string
  readonly headers: Record<string, string>
}

interface Timing {
  readonly firstByteMs: number
  readonly totalMs: number
  readonly bytes: number
}

const body = (model: string) =>
  JSON.stringify({ model, max_tokens: 100, stream: true, messages: [{ role: "user", content: "hi" }] })

/** One streamed call: time to the answer's first body byte and to its end. */
const call = async (target: Target, model: string): Promise<Timing> => {
  const started = performance.now()
  const response = await fetch(`${target.url}/v1/messages`, {
    method: "POST",
    headers: { "content-type": "application/json", "anthropic-version": "2023-06-01", ...target.headers },
    body: body(model)
  })
  if (response.status !== 200) throw new Error(`${response.status}: ${(await response.text()).slice(0, 300)}`)
  const reader = response.body!.getReader()
  let firstByteMs = 0
  let bytes = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    if (bytes === 0) firstByteMs = performance.now() - started
    bytes += value.byteLength
  }
  return { firstByteMs, totalMs: performance.now() - started, bytes }
}

const sorted = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)
const p = (values: ReadonlyArray<number>, q: number) => percentile(sorted(values), q)

interface Latency {
  readonly direct: ReadonlyArray<Timing>
  readonly gateway: ReadonlyArray<Timing>
  readonly cpuPerCallMs: number | undefined
}

/** A proxy to measure: its target and the processes whose CPU it uses. */
interface Proxied {
  readonly target: Target
  readonly pids: () => ReadonlyArray<number>
}

/**
 * Alternating direct and proxied calls, every proxy in turn in each round (so that all of them see the same load of
 * the machine), warm-up rounds first; each proxy's host CPU over its calls.
 */
const latencies = async (
  direct: Target,
  proxies: ReadonlyArray<Proxied>,
  model = LATENCY_MODEL,
  calls = CALLS,
  warmup = WARMUP
): Promise<Array<Latency>> => {
  for (let i = 0; i < warmup; i++) {
    for (const proxy of proxies) {
      await call(direct, model)
      await call(proxy.target, model)
    }
  }
  const results = proxies.map(() => ({
    direct: [] as Array<Timing>,
    gateway: [] as Array<Timing>,
    cpu: 0,
    cpuKnown: true
  }))
  for (let i = 0; i < calls; i++) {
    const order = i % 2 === 0
    // Each round starts with the next proxy: each follows every other as often (no proxy always runs right after
    // another's background work, such as Porter's usage records).
    for (let k = 0; k < proxies.length; k++) {
      const at = (k + i) % proxies.length
      const proxy = proxies[at]!
      const result = results[at]!
      if (order) result.direct.push(await call(direct, model))
      const before = cpuMs(proxy.pids())
      result.gateway.push(await call(proxy.target, model))
      const after = cpuMs(proxy.pids())
      if (before === undefined || after === undefined) result.cpuKnown = false
      else result.cpu += after - before
      if (!order) result.direct.push(await call(direct, model))
    }
  }
  return results.map((r, at) => ({
    direct: r.direct,
    gateway: r.gateway,
    cpuPerCallMs: r.cpuKnown && proxies[at]!.pids().length > 0 ? r.cpu / calls : undefined
  }))
}

/** Alternating direct and gateway calls (warm-up pairs first); the host's CPU over the gateway calls. */
const latency = async (
  direct: Target,
  gateway: Target,
  pids: () => ReadonlyArray<number>,
  model = LATENCY_MODEL,
  calls = CALLS,
  warmup = WARMUP
): Promise<Latency> => (await latencies(direct, [{ target: gateway, pids }], model, calls, warmup))[0]!

/** `streams` concurrent streams through the gateway; `heap()` read before, while all are open, and after. */
const concurrent = async (gateway: Target, heap: () => Promise<number>) => {
  const before = await heap()
  const started = performance.now()
  const all = Promise.all(Array.from({ length: STREAMS }, () => call(gateway, STREAM_MODEL)))
  // Every stream runs ~2 s: sample the heap while they are all open.
  await new Promise((resolve) => setTimeout(resolve, 900))
  const peak = await heap()
  const timings = await all
  const seconds = (performance.now() - started) / 1000
  const after = await heap()
  const mib = timings.reduce((n, t) => n + t.bytes, 0) / 2 ** 20
  return { before, peak, after, mib, seconds }
}

/** The processes of the Node host: one, its pid. */
const procStat = (pid: number) => () => {
  try {
    readFileSync(`/proc/${pid}/stat`)
    return [pid]
  } catch {
    return []
  }
}

/** A Node process of this folder (`script`), given the upstream; the JSON line it prints once it listens. */
const nodeProcess = <A extends { readonly url: string; readonly pid: number }>(script: string, upstream: string) =>
  Effect.acquireRelease(
    Effect.promise(() =>
      new Promise<A & { kill: () => void }>(
        (resolve, reject) => {
          const child = spawn(process.execPath, [
            "--conditions=@porter/source",
            "--expose-gc",
            "--disable-warning=ExperimentalWarning",
            new URL(script, import.meta.url).pathname
          ], { env: { ...process.env, UPSTREAM: upstream }, stdio: ["ignore", "pipe", "inherit"] })
          let out = ""
          child.stdout.on("data", (chunk: Buffer) => {
            out += chunk.toString("utf8")
            const line = out.split("\n").find((l) => l.startsWith("{"))
            if (line !== undefined) resolve({ ...JSON.parse(line), kill: () => child.kill("SIGTERM") })
          })
          child.on("exit", (code) => reject(new Error(`${script} exited (${code})`)))
        }
      )
    ),
    (host) => Effect.sync(host.kill)
  )

const nodeHost = (upstream: string) =>
  nodeProcess<{ url: string; taskId: string; credential: string; pid: number }>("./nodeHost.ts", upstream)

/**
 * The floors: what any proxy on the same runtime costs — a Worker that forwards the call with `fetch` and returns the
 * answer's body as it is (workerd pipes it natively), the same with the body passed through a JavaScript stream (as
 * a metering proxy must), and a Node proxy (`node:http` piping to `node:http`).
 */
const FLOOR_WORKER = `
export default {
  async fetch(request, env) {
    const upstream = await fetch(env.UPSTREAM + "/v1/messages", {
      method: "POST",
      headers: { "content-type": "application/json", "x-api-key": "floor" },
      body: await request.arrayBuffer()
    })
    const headers = { "content-type": upstream.headers.get("content-type") ?? "text/event-stream" }
    if (new URL(request.url).pathname !== "/js/v1/messages") return new Response(upstream.body, { status: upstream.status, headers })
    const reader = upstream.body.getReader()
    const body = new ReadableStream({
      pull: (controller) => reader.read().then(({ done, value }) => done ? controller.close() : controller.enqueue(value)),
      cancel: (reason) => reader.cancel(reason)
    }, { highWaterMark: 0 })
    return new Response(body, { status: upstream.status, headers })
  }
}
`

const floorWorker = (upstream: string) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const before = new Set(workerdPids())
      const miniflare = new Miniflare(convertV4MiniflareOptions({
        modules: true,
        script: FLOOR_WORKER,
        // The Worker's own compatibility date: the same runtime behaviour (streams, fetch) as Porter's.
        compatibilityDate: COMPATIBILITY_DATE,
        host: "127.0.0.1",
        port: 0,
        bindings: { UPSTREAM: upstream },
        cf: false,
        // As Porter's Worker (the profiler's way in; the same cost for both).
        ...(LATENCY_ONLY && process.env["NO_INSPECTOR"] === "1" ? {} : { inspectorPort: 0 }),
        handleStructuredLogs: () => {}
      }))
      const url = (await miniflare.ready).href.replace(/\/$/, "")
      return { url, miniflare, pids: workerdPids().filter((pid) => !before.has(pid)) }
    }),
    ({ miniflare }) => Effect.promise(() => miniflare.dispose())
  )

/** The Node floor: a bare `node:http` proxy in a process of its own, as the Node host is (`nodeFloor.ts`). */
const floorNode = (upstream: string) => nodeProcess<{ url: string; pid: number }>("./nodeFloor.ts", upstream)

const run = Effect.gen(function*() {
  const upstream = yield* Effect.acquireRelease(Effect.promise(Upstream.start), (u) => Effect.promise(u.close))
  const direct: Target = { url: upstream.url, headers: { "x-api-key": "sk-ant-api03-bench-direct-0000" } }

  // --- workerd: porter dev's stack, a task that sleeps, its machine's gateway credential.
  const adminToken = "gateway-bench-admin-token-0123456789"
  const readable = PROFILE ? (yield* Effect.promise(() => Build.bundle({ minify: false }))).code : undefined
  const stack = yield* LocalStack.start({
    ...(readable !== undefined ? { script: readable } : {}),
    adminToken,
    ...(LATENCY_ONLY && process.env["NO_INSPECTOR"] === "1" ? {} : { inspectorPort: 0 }),
    workerEnv: { PORTER_GATEWAY_ANTHROPIC_URL: upstream.url }
  }).pipe(Effect.orDie)
  const { worker } = stack
  const github = stack.github!
  const owner = github.admin
  const rest = (method: string, path: string, payload?: unknown) =>
    Effect.promise(() => GitHubEmulator.rest(owner.token, method, `${github.url}${path}`, payload))
  yield* Effect.promise(() =>
    worker.fetch(`${worker.url}/admin/secrets`, {
      method: "PUT",
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({ scope: "global", name: "ANTHROPIC_API_KEY", value: "sk-ant-api03-bench-key-0000" })
    })
  )
  yield* rest("POST", "/user/repos", { name: "bench", auto_init: true })
  const issue = (yield* rest("POST", `/repos/${owner.login}/bench/issues`, { title: "bench", body: "" })) as {
    number: number
  }
  yield* rest("POST", `/repos/${owner.login}/bench/issues/${issue.number}/comments`, {
    body: "@porter script wait\n\n```porter-script\nsleep 3600\n```"
  })
  let machineEnv: Readonly<Record<string, string>> | undefined
  for (let i = 0; i < 300 && machineEnv === undefined; i++) {
    machineEnv = stack.machines.machines()[0]?.env
    if (machineEnv === undefined) yield* Effect.sleep("100 millis")
  }
  if (machineEnv === undefined) return yield* Effect.die(new Error("no machine started"))
  const workerdGateway: Target = {
    url: `${machineEnv["MODEL_GATEWAY_URL"]}/anthropic`,
    headers: { "x-api-key": machineEnv["GATEWAY_TOKEN"]! }
  }
  const inspector = LATENCY_ONLY ? undefined! : yield* Effect.promise(() => worker.miniflare.getInspectorURL())
  const pids = workerdPids()

  // --- the Node host.
  const node = yield* nodeHost(upstream.url)
  const nodeGateway: Target = {
    url: `${node.url}/gateway/tasks/${node.taskId}/anthropic`,
    headers: { "x-api-key": node.credential }
  }

  const floorW = yield* floorWorker(upstream.url)
  const floorN = yield* floorNode(upstream.url)
  console.error("gateway bench: latency, Porter and the floors in turn…")
  const [workerdLatency, workerdNative, workerdJs, nodeLatency, nodeFloor] = yield* Effect.promise(() =>
    latencies(direct, [
      { target: workerdGateway, pids: () => pids },
      { target: { url: floorW.url, headers: {} }, pids: () => floorW.pids },
      { target: { url: `${floorW.url}/js`, headers: {} }, pids: () => floorW.pids },
      { target: nodeGateway, pids: procStat(node.pid) },
      { target: { url: floorN.url, headers: {} }, pids: procStat(floorN.pid) }
    ])
  )
  const floors = { workerdNative: workerdNative!, workerdJs: workerdJs!, node: nodeFloor! }
  // --- The tables.
  const rows = (name: string, l: Latency) => {
    const added = l.gateway.map((g, i) => g.totalMs - l.direct[i]!.totalMs)
    const addedFirst = l.gateway.map((g, i) => g.firstByteMs - l.direct[i]!.firstByteMs)
    return [
      [
        name,
        fixed(p(l.direct.map((t) => t.totalMs), 50)),
        fixed(p(l.gateway.map((t) => t.totalMs), 50)),
        fixed(p(added, 50)),
        fixed(p(added, 99)),
        fixed(p(l.direct.map((t) => t.firstByteMs), 50)),
        fixed(p(l.gateway.map((t) => t.firstByteMs), 50)),
        fixed(p(addedFirst, 50)),
        `${fixed(p(l.gateway.map((t) => t.firstByteMs), 50) / p(l.direct.map((t) => t.firstByteMs), 50))}×`,
        l.cpuPerCallMs === undefined ? "n/a" : fixed(l.cpuPerCallMs)
      ]
    ]
  }
  console.log(
    `Machine: ${yield* Effect.promise(machine)}. ${CALLS} calls per host and path (after ${WARMUP} warm-up ` +
      `pairs), each streaming 20 deltas of 1 KiB 2 ms apart; ms.\n`
  )
  console.log(table(
    [
      "host",
      "direct p50",
      "gateway p50",
      "added p50",
      "added p99",
      "first byte direct p50",
      "first byte gateway p50",
      "first byte added p50",
      "first byte ratio",
      "host CPU per call"
    ],
    [
      ...rows("workerd: Porter's gateway (Worker, local D1)", workerdLatency!),
      ...rows("workerd floor: fetch, body returned as is", floors.workerdNative),
      ...rows("workerd floor: fetch, body through a JS stream", floors.workerdJs),
      ...rows("Node: Porter's gateway (Node host)", nodeLatency!),
      ...rows("Node floor: node:http piped to node:http (own process)", floors.node)
    ]
  ))
  if (LATENCY_ONLY) return

  console.error("gateway bench: with a model's time to first token…")
  const firstToken = {
    workerd: yield* Effect.promise(() =>
      latency(direct, workerdGateway, () => pids, FIRST_TOKEN_MODEL, FIRST_TOKEN_CALLS, 3)
    ),
    node: yield* Effect.promise(() =>
      latency(direct, nodeGateway, procStat(node.pid), FIRST_TOKEN_MODEL, FIRST_TOKEN_CALLS, 3)
    )
  }

  // One inspector session at a time: the heap probe's, then the profiler's.
  console.error(`gateway bench: ${STREAMS} concurrent streams…`)
  const { heapProbe } = yield* Effect.promise(() => import("@porter/reliability").then((r) => r.Workerd))
  const workerdMemory = yield* Effect.scoped(
    Effect.flatMap(heapProbe(worker), (isolateHeap) => Effect.promise(() => concurrent(workerdGateway, isolateHeap)))
  )
  const nodeHeap = async () => {
    const response = await fetch(`${node.url}/__heap`)
    return ((await response.json()) as { heapUsed: number }).heapUsed / 2 ** 20
  }
  const nodeMemory = yield* Effect.promise(() => concurrent(nodeGateway, nodeHeap))

  console.error("gateway bench: isolate CPU (profiler)…")
  const sampler = yield* Effect.promise(() => profiler(inspector))
  yield* Effect.promise(() => sampler.start())
  for (let i = 0; i < PROFILE_CALLS; i++) yield* Effect.promise(() => call(workerdGateway, LATENCY_MODEL))
  const profile = yield* Effect.promise(() =>
    sampler.stop(readable === undefined ? undefined : bundleModules(readable))
  )
  sampler.close()
  // The same for the floor that streams through JavaScript, as the meter needs.
  const floorSampler = yield* Effect.promise(async () => profiler(await floorW.miniflare.getInspectorURL()))
  yield* Effect.promise(() => floorSampler.start())
  for (let i = 0; i < PROFILE_CALLS; i++) {
    yield* Effect.promise(() => call({ url: `${floorW.url}/js`, headers: {} }, LATENCY_MODEL))
  }
  const floorProfile = yield* Effect.promise(() => floorSampler.stop())
  floorSampler.close()
  // The isolate idles between the samples of a call (it waits for the model): `busyMs` (see `summarize`), D1's API
  // left out in the same proportion.
  const d1Ms = profile.areas.find((a) => a.name === "workerd (D1 API)")?.ms ?? 0
  const isolateCpuMs = profile.busyMs * (1 - d1Ms / Math.max(profile.jsMs, 1e-9)) / PROFILE_CALLS

  console.log(
    `\nThe same calls with a model's time to first token (the server waits 250 ms before \`message_start\`), ` +
      `${FIRST_TOKEN_CALLS} per host and path:\n`
  )
  console.log(table(
    [
      "host",
      "direct p50",
      "gateway p50",
      "added p50",
      "added p99",
      "first byte direct p50",
      "first byte gateway p50",
      "first byte added p50",
      "first byte ratio",
      "host CPU per call"
    ],
    [...rows("workerd: Porter's gateway", firstToken.workerd), ...rows("Node: Porter's gateway", firstToken.node)]
  ))
  console.log(
    `\nThe Worker isolate's own CPU per proxied call (V8 profiler over ${PROFILE_CALLS} calls, D1's API left out; ` +
      `each sample counted for at most the profiler's gap between samples while the isolate runs, ` +
      `${fixed(profile.busyGapMs * 1000, 0)} µs here, as workerd's sampler takes none while the isolate waits): ` +
      `${fixed(isolateCpuMs, 3)} ms (JavaScript ${fixed(profile.busyMs, 0)} ms in all; counting every gap whole, ` +
      `waits included, ${fixed(profile.jsMs, 0)} ms; by area, whole gaps: ${
        profile.areas.slice(0, 5).map((a) => `${a.name} ${fixed(a.ms, 0)} ms`).join(", ")
      }). The floor's, forwarding through a JavaScript stream, counted the same way: ` +
      `${fixed(floorProfile.busyMs / PROFILE_CALLS, 3)} ms (gap ${fixed(floorProfile.busyGapMs * 1000, 0)} µs).`
  )
  if (PROFILE) {
    console.log(`\nSelf time, ms over ${PROFILE_CALLS} calls:\n`)
    console.log(table(["function", "ms"], profile.top.slice(0, 25).map((f) => [`\`${f.name}\``, fixed(f.ms, 0)])))
    console.log(`\nInclusive, ms:\n`)
    console.log(table(["function", "ms"], profile.inclusive.slice(0, 40).map((f) => [`\`${f.name}\``, fixed(f.ms, 0)])))
  }
  console.log(`\n${STREAMS} concurrent streams through the gateway, 1 MiB each (64 × 16 KiB, 30 ms apart):\n`)
  console.log(table(
    ["host", "heap before (MiB)", "heap with all open", "heap after", "MiB streamed", "seconds"],
    [
      ["workerd isolate", workerdMemory],
      ["Node host", nodeMemory]
    ].map(([name, m]) => {
      const r = m as Awaited<ReturnType<typeof concurrent>>
      return [
        name as string,
        fixed(r.before, 1),
        fixed(r.peak, 1),
        fixed(r.after, 1),
        fixed(r.mib, 0),
        fixed(r.seconds, 1)
      ]
    })
  ))
})

Effect.runPromise(Effect.scoped(run)).then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error)
    process.exit(1)
  }
)

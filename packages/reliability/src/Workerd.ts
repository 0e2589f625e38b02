/**
 * The built Worker in workerd through Miniflare's API, like `@porter/worker/local` (same options it passes: the
 * bundle, the bindings as `env`, a D1 with Porter's migrations, no `cf` fetch), plus workerd's **inspector**, so
 * a soak run can read the isolate's own memory: the V8 heap after a full garbage collection (`isolateHeapMiB`; a
 * heap snapshot, which collects garbage first — workerd does not answer `HeapProfiler.collectGarbage`).
 *
 * Why not only the process's resident memory: locally, workerd's RSS grows by some 20 KiB per request even for a
 * Worker that answers every request with an empty 202 (measured: 90 → 431 MiB over 16,000 requests), so RSS
 * cannot tell a leak in Porter from workerd's own bookkeeping; the heap after GC can. `@porter/worker/local` has no
 * inspector option, hence this module (proposed there).
 *
 * Cannot: enforce Cloudflare's limits (CPU, memory, subrequests), like every local workerd.
 */
import type { D1Database } from "@cloudflare/workers-types"
import { Effect, Scope } from "effect"
import { createServer } from "node:net"
import { convertV4MiniflareOptions, Miniflare } from "miniflare"
import * as D1Testing from "@porter/d1/testing"
import type * as Local from "@porter/worker/local"

export interface Options {
  readonly script: string
  readonly env: Readonly<Record<string, string>>
  readonly onLog?: ((line: Local.LogLine) => void) | undefined
}

export interface Workerd {
  readonly worker: Local.LocalWorker
  /** The isolate's V8 heap in MiB, measured after a full garbage collection. */
  readonly isolateHeapMiB: () => Promise<number>
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

/** A DevTools-protocol session with the Worker's isolate. */
const inspect = async (miniflare: Miniflare) => {
  const socket = new WebSocket(new URL("/core:user:", await miniflare.getInspectorURL()).href)
  await new Promise<void>((resolve, reject) => {
    socket.addEventListener("open", () => resolve(), { once: true })
    socket.addEventListener("error", () => reject(new Error("cannot open workerd's inspector")), { once: true })
  })
  let next = 0
  const pending = new Map<number, (result: unknown) => void>()
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown }
    if (message.id !== undefined) pending.get(message.id)?.(message.result)
  })
  const post = (method: string) => socket.send(JSON.stringify({ id: ++next, method, params: {} }))
  const send = (method: string) =>
    new Promise<unknown>((resolve, reject) => {
      const id = ++next
      const timer = setTimeout(() => reject(new Error(`the inspector did not answer ${method}`)), 10_000)
      pending.set(id, (result) => {
        clearTimeout(timer)
        resolve(result)
      })
      socket.send(JSON.stringify({ id, method, params: {} }))
    })
  return { post, send, close: () => socket.close() }
}

export const start = (options: Options): Effect.Effect<Workerd, never, Scope.Scope> =>
  Effect.gen(function*() {
    const port = yield* Effect.promise(freePort)
    const url = `http://127.0.0.1:${port}`
    const env = { PORTER_PUBLIC_URL: url, ...options.env }
    const miniflare = yield* Effect.acquireRelease(
      Effect.sync(() =>
        new Miniflare(convertV4MiniflareOptions({
          modules: true,
          script: options.script,
          compatibilityDate: "2026-10-01",
          host: "127.0.0.1",
          port,
          inspectorPort: 0,
          bindings: env,
          d1Databases: { DB: "00000000-0000-4000-8000-000000000000" },
          cf: false,
          handleStructuredLogs: (log) => options.onLog?.({ level: log.level, message: log.message }),
          logRequests: false
        }))
      ),
      (mf) => Effect.promise(() => mf.dispose())
    )
    yield* Effect.promise(() => miniflare.ready)
    const db = (yield* Effect.promise(() => miniflare.getD1Database("DB"))) as unknown as D1Database
    yield* Effect.promise(() => D1Testing.applyMigrations(db))
    const user = yield* Effect.promise(() => miniflare.getWorker())
    const inspector = yield* Effect.acquireRelease(Effect.promise(() => inspect(miniflare)), (i) => Effect.sync(i.close))
    const worker: Local.LocalWorker = {
      url,
      env,
      miniflare,
      db,
      fetch: (input, init) => miniflare.dispatchFetch(input, init),
      scheduled: async (cron = "* * * * *") => {
        const result = await user.scheduled({ cron, scheduledTime: new Date() })
        if (result.outcome !== "ok") throw new Error(`scheduled() ended with outcome ${result.outcome}`)
      },
      logs: () => [],
      close: () => miniflare.dispose()
    }
    return {
      worker,
      isolateHeapMiB: async () => {
        // workerd's inspector does not answer `HeapProfiler.collectGarbage`; a heap snapshot collects garbage first
        // (its chunks are ignored). Messages are handled in order, so the usage read next comes after it.
        inspector.post("HeapProfiler.takeHeapSnapshot")
        const usage = (await inspector.send("Runtime.getHeapUsage")) as { usedSize: number }
        return usage.usedSize / 2 ** 20
      }
    }
  })

/**
 * The Worker's isolate seen through workerd's **inspector** (the stack starts workerd with it open), so a soak run can
 * read the isolate's own memory: the V8 heap
 * after a full garbage collection (`isolateHeapMiB`; a heap snapshot, which collects garbage first — workerd does
 * not answer `HeapProfiler.collectGarbage`).
 *
 * Why not only the process's resident memory: locally, workerd's RSS grows by some 20 KiB per request even for a
 * Worker that answers every request with an empty 202 (measured: 90 → 431 MiB over 16,000 requests), so RSS
 * cannot tell a leak in Porter from workerd's own bookkeeping; the heap after GC can.
 *
 * Cannot: enforce Cloudflare's limits (CPU, memory, subrequests), like every local workerd.
 */
import * as Local from "@porter/worker/local"
import { Effect, Scope } from "effect"
import type { Miniflare } from "miniflare"

/** A DevTools-protocol session with the Worker's isolate. */
const inspect = async (miniflare: Miniflare) => {
  // The API Worker (named since the App Worker runs beside it in the same workerd).
  const socket = new WebSocket(new URL(`/core:user:${Local.API_WORKER}`, await miniflare.getInspectorURL()).href)
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

/**
 * The heap probe of a Worker started with its inspector open (`inspectorPort`); the inspector session closes with
 * the scope.
 */
export const heapProbe = (worker: Local.LocalWorker): Effect.Effect<() => Promise<number>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const inspector = yield* Effect.acquireRelease(
      Effect.promise(() => inspect(worker.miniflare)),
      (i) => Effect.sync(i.close)
    )
    return async () => {
      // workerd's inspector does not answer `HeapProfiler.collectGarbage`; a heap snapshot collects garbage first
      // (its chunks are ignored). Messages are handled in order, so the usage read next comes after it.
      inspector.post("HeapProfiler.takeHeapSnapshot")
      const usage = (await inspector.send("Runtime.getHeapUsage")) as { usedSize: number }
      return usage.usedSize / 2 ** 20
    }
  })

/**
 * Keeps Effect's runtime from using workerd's `AsyncResource`.
 *
 * Effect 4 looks up `AsyncResource` (`node:async_hooks`, through `process.getBuiltinModule`) once, when its runtime
 * module is evaluated, then captures one each time a fiber suspends and resumes the fiber through its
 * `runInAsyncScope`. In workerd that call throws ("Cannot call this AsyncLocalStorage bound function outside of
 * the request in which it was created") when the resuming code runs for another request — which is what happens
 * when two requests wait for the same lookup in a shared cache (an installation token, a permission check): the
 * first request's code completes the lookup and resumes the second's fiber. The throw is lost inside the runtime
 * and the second fiber never resumes (found by the webhook benchmark: concurrent deliveries on a cold isolate
 * never finished).
 *
 * Without `AsyncResource` Effect resumes fibers directly, as it does in browsers: in the I/O context of the code
 * that resumes them (`WorkerBackground` keeps such requests alive until the work they carry is done). Nothing in
 * the Worker uses `AsyncLocalStorage`, so nothing is lost, and each suspension is cheaper.
 *
 * `hide` must run before Effect's modules are evaluated (`index.ts` imports `prelude.ts` first); the returned
 * function puts `getBuiltinModule` back once they are, so nothing else ever sees the change.
 */

interface ProcessLike {
  getBuiltinModule?: (id: string) => unknown
}

const isAsyncHooks = (id: string) => id === "node:async_hooks" || id === "async_hooks"

/**
 * Makes `target.process.getBuiltinModule("node:async_hooks")` answer the module without `AsyncResource`, until the
 * returned function is called. Does nothing (and returns a no-op) where there is no `getBuiltinModule`.
 */
export const hide = (target: { process?: unknown } = globalThis): () => void => {
  const process = target.process as ProcessLike | undefined | null
  if (process === undefined || process === null || typeof process.getBuiltinModule !== "function") return () => {}
  const descriptor = Object.getOwnPropertyDescriptor(process, "getBuiltinModule")
  const original = process.getBuiltinModule
  const without = (id: string): unknown => {
    const module = original.call(process, id)
    if (!isAsyncHooks(id) || typeof module !== "object" || module === null) return module
    return { ...module, AsyncResource: undefined }
  }
  try {
    Object.defineProperty(process, "getBuiltinModule", { value: without, configurable: true, writable: true })
  } catch {
    return () => {}
  }
  return () => {
    if (descriptor !== undefined) Object.defineProperty(process, "getBuiltinModule", descriptor)
    else delete (process as Record<string, unknown>)["getBuiltinModule"]
  }
}

/**
 * `@porter/worker/local` (Node only): the built Workers in workerd through Miniflare's API — the API Worker, and the
 * App Worker (web app, MCP) behind its `APP` service binding, both on one local D1 that has Porter's migrations applied — what `porter dev`, `porter demo`, the end-to-end tests and the benchmarks run.
 * Not `wrangler dev`: no config file, no proxy in front of workerd, any environment given in code.
 *
 * - The Worker listens on `http://127.0.0.1:<port>` (a free port unless given); `PORTER_PUBLIC_URL` defaults to
 *   that URL, so machines on this host can call back.
 * - D1 lives in memory unless `persistTo` is given; that directory has the layout of `wrangler --persist-to`
 *   (`<dir>/v3/d1/…`), so `wrangler d1 migrations apply porter --local --persist-to <dir>` sees the same database.
 * - `scheduled()` fires the Cron Trigger (the watchdog sweep) and resolves when it is done.
 * - The Worker's console lines (JSON logs) are kept (`logs()`) and handed to `onLog`.
 *
 * Cannot: run without workerd's platform binaries (installed with `miniflare`), or emulate Cloudflare limits
 * (CPU time, subrequests, the 30 s `waitUntil` grace) — locally none of them is enforced.
 */
import type { D1Database } from "@cloudflare/workers-types"
import * as D1Testing from "@porter/d1/testing"
import { Cause, Effect, Exit, Schema, Scope } from "effect"
import { convertV4MiniflareOptions, Miniflare } from "miniflare"
import { createServer } from "node:net"
import * as path from "node:path"
import * as Build from "./build.ts"

/** The API Worker's name (`wrangler.jsonc`). */
export const API_WORKER = "porter"
/** The App Worker's name (`wrangler.app.jsonc`): the API Worker's `APP` binding. */
export const APP_WORKER = "porter-app"

let appBuilt: Promise<string> | undefined
/** The App Worker's bundle, built once per process (it is the same for every local Worker). */
const appBundle = (): Promise<string> => {
  appBuilt ??= Build.bundleApp().then((built) => built.code)
  appBuilt.catch(() => {
    appBuilt = undefined
  })
  return appBuilt
}

/** The `compatibility_date` of `wrangler.jsonc` (a test keeps them equal). */
export const COMPATIBILITY_DATE = "2026-10-01"

/** The D1 database id `wrangler.jsonc` names (local persistence is keyed by it). */
export const D1_DATABASE_ID = "00000000-0000-4000-8000-000000000000"

/** How to start the local Workers. */
export interface Options {
  /** Variables and secrets, as `wrangler dev` would bind them. */
  readonly env: Readonly<Record<string, string>>
  /** Default: a free port. */
  readonly port?: number | undefined
  /** Default `127.0.0.1`. */
  readonly host?: string | undefined
  /** Keep D1 in this directory (`wrangler --persist-to` layout); default: in memory, gone on close. */
  readonly persistTo?: string | undefined
  /** The D1 database id local persistence is keyed by (default `D1_DATABASE_ID`, the one in wrangler.jsonc). */
  readonly d1DatabaseId?: string | undefined
  /** Apply the repository's `migrations/` (default), those of another directory, or none (`false`). */
  readonly migrations?: boolean | string | undefined
  /** The API Worker's bundle (`Build.bundle()`'s `code`), to share one build between runs; default: bundled now. */
  readonly script?: string | undefined
  /** The App Worker's bundle (`Build.bundleApp()`'s `code`); default: bundled once per process. */
  readonly appScript?: string | undefined
  /** Each console line of the Worker, as it comes. */
  readonly onLog?: ((line: LogLine) => void) | undefined
  /** Console lines kept for `logs()` (default 5,000). */
  readonly keepLogs?: number | undefined
  /**
   * Open workerd's DevTools inspector on this port (`0`: a free one; `miniflare.getInspectorURL()` tells which), for
   * profiles and heap measurements; default: no inspector.
   */
  readonly inspectorPort?: number | undefined
}

/** One console line of a Worker (its JSON log's level and message). */
export interface LogLine {
  readonly level: string
  readonly message: string
}

/**
 * The lines where workerd says it dropped a request's continuations ("A promise was resolved or rejected from a
 * different request context …"): it had ended that request while another request's code was still to resume it.
 * None should ever appear (see `WorkerBackground`); tests assert so.
 */
export const droppedContinuations = (lines: ReadonlyArray<LogLine>): ReadonlyArray<LogLine> =>
  lines.filter((line) => line.message.includes("different request context"))

/** The Workers running in workerd, their D1, and how to reach them. */
export interface LocalWorker {
  /** `http://host:port`: where GitHub (the emulator) and the machines reach the Worker. */
  readonly url: string
  /** The environment the Worker got (with `PORTER_PUBLIC_URL` filled in). */
  readonly env: Readonly<Record<string, string>>
  readonly miniflare: Miniflare
  /** The Worker's D1, through Miniflare's proxy (queries run in workerd). */
  readonly db: D1Database
  /** A request straight into workerd through Miniflare's API. */
  readonly fetch: Miniflare["dispatchFetch"]
  /** Fires the Cron Trigger (`* * * * *` by default) and waits until the sweep is done. */
  readonly scheduled: (cron?: string) => Promise<void>
  /** The Worker's console lines so far (the most recent `keepLogs`). */
  readonly logs: () => ReadonlyArray<LogLine>
  readonly close: () => Promise<void>
}

/** The local Worker could not be started (bundle, workerd, migrations). */
export class LocalWorkerError extends Schema.TaggedError<LocalWorkerError>()("LocalWorkerError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {}

const failure = (message: string) => (cause: unknown) =>
  new LocalWorkerError({ message: `${message}: ${cause instanceof Error ? cause.message : String(cause)}`, cause })

/** A port no one listens on right now (the OS picks it). */
const freePort = (host: string) =>
  Effect.callback<number, LocalWorkerError>((resume) => {
    const server = createServer()
    server.once("error", (error) => resume(Effect.fail(failure("cannot find a free port")(error))))
    server.listen(0, host, () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resume(Effect.succeed(port)))
    })
  })

/** Starts the Worker; closing the scope stops workerd (and drops an in-memory D1). */
export const start = (options: Options): Effect.Effect<LocalWorker, LocalWorkerError, Scope.Scope> =>
  Effect.flatMap(
    Effect.scope,
    (parent) =>
      Effect.flatMap(Scope.fork(parent), (scope) =>
        Scope.provide(startIn(options, scope), scope).pipe(
          Effect.onError((cause) => Scope.close(scope, Exit.failCause(cause)))
        ))
  )

const startIn = (options: Options, scope: Scope.Closeable) =>
  Effect.gen(function*() {
    const host = options.host ?? "127.0.0.1"
    const [script, appScript] = yield* Effect.tryPromise({
      try: () =>
        Promise.all([
          options.script ?? Build.bundle().then((built) => built.code),
          options.appScript ?? appBundle()
        ]),
      catch: failure("cannot bundle the Worker")
    })
    const keep = options.keepLogs ?? 5_000
    const lines: Array<LogLine> = []
    const onLog = (line: LogLine) => {
      lines.push(line)
      if (lines.length > keep) lines.splice(0, lines.length - keep)
      options.onLog?.(line)
    }

    /** workerd on `port`, running (`ready`); stopped with the scope. */
    const launch = (port: number) => {
      const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}`
      const env = { PORTER_PUBLIC_URL: url, ...options.env }
      const worker = (name: string, code: string) => ({
        name,
        modules: true,
        script: code,
        compatibilityDate: COMPATIBILITY_DATE,
        bindings: env,
        d1Databases: { DB: options.d1DatabaseId ?? D1_DATABASE_ID }
      })
      const started = Effect.try({
        try: () =>
          new Miniflare(convertV4MiniflareOptions({
            // The first Worker gets the port: the API Worker, which hands the App Worker its paths.
            workers: [
              { ...worker(API_WORKER, script), serviceBindings: { APP: APP_WORKER } },
              worker(APP_WORKER, appScript)
            ],
            host,
            port,
            ...(options.inspectorPort !== undefined ? { inspectorPort: options.inspectorPort } : {}),
            // No request to Cloudflare for the `cf` object: the placeholder Miniflare falls back to is enough.
            cf: false,
            ...(options.persistTo !== undefined
              ? { resourcePersistencePath: path.join(path.resolve(options.persistTo), "v3") }
              : {}),
            handleStructuredLogs: (log) => onLog({ level: log.level, message: log.message }),
            logRequests: false
          })),
        catch: failure("cannot start workerd")
      }).pipe(
        Effect.flatMap((mf) =>
          Effect.tryPromise({ try: () => mf.ready, catch: failure("workerd did not start") }).pipe(
            Effect.onError(() => Effect.promise(() => mf.dispose().catch(() => {}))),
            Effect.as(mf)
          )
        )
      )
      return Effect.map(
        Effect.acquireRelease(
          started,
          // Stopping workerd can fail (its process already gone, a socket error): nothing more to do then but say so.
          (mf) =>
            Effect.tryPromise({ try: () => mf.dispose(), catch: failure("could not stop workerd") }).pipe(
              Effect.catch((error) => Effect.logWarning(error.message))
            )
        ),
        (miniflare) => ({ miniflare, url, env })
      )
    }
    const chosen = options.port !== undefined && options.port !== 0 ? options.port : undefined
    // A port picked here is free when picked, not when workerd binds it a moment later (another process may take it
    // meanwhile, as parallel tests do): then a new one is picked, at most three times.
    const { env, miniflare, url } = chosen !== undefined
      ? yield* launch(chosen)
      : yield* Effect.flatMap(freePort(host), launch).pipe(
        Effect.retry({ times: 3, while: (error) => error.message.includes("Address already in use") })
      )
    // Miniflare types bindings with its own copy of the workers types; it is the same binding.
    const db = (yield* Effect.tryPromise({
      try: () => miniflare.getD1Database("DB", API_WORKER),
      catch: failure("cannot reach the Worker's D1")
    })) as unknown as D1Database
    if (options.migrations !== false) {
      const dir = typeof options.migrations === "string" ? options.migrations : undefined
      yield* Effect.tryPromise({ try: () => D1Testing.applyMigrations(db, dir), catch: failure("migrations failed") })
    }
    const api = yield* Effect.tryPromise({ try: () => miniflare.getWorker(API_WORKER), catch: failure("no Worker") })
    return {
      url,
      env,
      miniflare,
      db,
      fetch: (input, init) => miniflare.dispatchFetch(input, init),
      scheduled: async (cron = "* * * * *") => {
        const result = await api.scheduled({ cron, scheduledTime: new Date() })
        if (result.outcome !== "ok") throw new Error(`scheduled() ended with outcome ${result.outcome}`)
      },
      logs: () => [...lines],
      close: () => Effect.runPromise(Scope.close(scope, Exit.void))
    } satisfies LocalWorker
  })

/** `start` outside Effect: resolves once workerd runs and D1 is migrated; `close()` stops it. */
export const startPromise = async (options: Options): Promise<LocalWorker> => {
  const scope = Effect.runSync(Scope.make())
  const exit = await Effect.runPromiseExit(Scope.provide(start(options), scope))
  if (Exit.isFailure(exit)) {
    await Effect.runPromise(Scope.close(scope, exit))
    throw Cause.squash(exit.cause)
  }
  return { ...exit.value, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

export { type Bundle, bundle, type BundleOptions } from "./build.ts"

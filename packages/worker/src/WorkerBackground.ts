/**
 * Core's `Background` on Cloudflare Workers: work handed to `run` continues after the HTTP answer under the
 * request's `ctx.waitUntil`. The Worker passes each request's `ExecutionContext` through the web handler's
 * context argument (`CurrentExecutionContext`), and `run` reads it from the calling fiber.
 *
 * One more thing keeps that work alive. workerd ties I/O to the request whose code started it and cancels it when
 * that request is over. Background runs share caches (an installation token, a permission check): a run that
 * waits for a lookup another request's run started is resumed by that request's code, and from then on its
 * `fetch` and D1 calls belong to that other request — cancelled, and the run stuck for good, if that request ends
 * first (found by the webhook benchmark on a cold isolate). So a request does not end when its own run is done:
 * its `waitUntil` also waits until no run of this isolate is in flight, at most `keepAliveMs` (20 s by default,
 * inside Cloudflare's 30 s), which is long enough for any run that may be using it to finish.
 *
 * A request whose run was resumed by another request's code has nothing of its own pending while it waits for that run:
 * workerd ends such a request and drops its continuations, logging "A promise was resolved or rejected from a
 * different request context". The run itself goes on (on the other request's I/O), but its end was then never
 * counted: one such run at a cold start kept every later request of the isolate waiting its whole `keepAliveMs`
 * (found by the 1,000-task soak, three runs stuck in flight from its first second). So a run's end is counted by its
 * fiber, in whichever request's code ends it, and each request is kept open (`pinned`) until its own run has ended.
 *
 * Cannot: outlive Cloudflare's limit — `waitUntil` work gets at most 30 s after the answer, then it is cancelled.
 * A delivery whose handling was cut short stays claimed but not completed, and the watchdog handles it again
 * (`deliveryRetryAfterMs`); a stuck dispatch is re-dispatched by the same sweep.
 */
import { Background } from "@porter/core"
import { Cause, Context, Effect, Layer } from "effect"

/** The part of workerd's `ExecutionContext` this module uses. */
export interface WaitUntil {
  readonly waitUntil: (promise: Promise<unknown>) => void
}

/**
 * The current request's execution context. Unset (outside a request: `scheduled`, tests), `run` works inline:
 * the caller waits, which is what a cron invocation wants anyway.
 *
 * @category references
 */
export const CurrentExecutionContext = Context.Reference<WaitUntil | undefined>(
  "@porter/worker/CurrentExecutionContext",
  { defaultValue: () => undefined }
)

/** The per-request context to hand to the web handler (`handler(request, contextFor(ctx))`). */
export const contextFor = (ctx: WaitUntil): Context.Context<never> =>
  Context.make(CurrentExecutionContext, ctx) as Context.Context<never>

/** How the Worker keeps background work alive after an answer. */
export interface Options {
  /** How long a request stays alive after its own run, waiting for the isolate's other runs (default 20 s). */
  readonly keepAliveMs?: number
}

const logged = (effect: Effect.Effect<void>) =>
  Effect.catchCause(effect, (cause) =>
    Cause.hasInterruptsOnly(cause)
      ? Effect.logWarning("background work was interrupted")
      : Effect.logError("background work failed", { cause }))

/** Resolves on a later turn of the event loop, after the current request's answer has been handed over. */
export const afterAnswer = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0))

/** Cloudflare's limit on `waitUntil` work after the answer: no request is pinned longer. */
const PIN_MS = 30_000

/**
 * `work`, with the calling request kept open until it settles (a timer of the request's own pending, at most `PIN_MS`):
 * its continuations may be resolved from another request's code, and workerd would otherwise end the request as one
 * that has nothing left to do, and drop them.
 */
const pinned = <A>(work: Promise<A>): Promise<A> => {
  const timer = setTimeout(() => {}, PIN_MS)
  return work.finally(() => clearTimeout(timer))
}

/** Counts the runs in flight; `idle(ms)` resolves when none is, or after `ms`. */
class Runs {
  private running = 0
  private waiters: Array<() => void> = []

  /** Keep-alive waits not yet over. */
  get waiting(): number {
    return this.waiters.length
  }

  start(): () => void {
    this.running++
    let done = false
    return () => {
      if (done) return
      done = true
      this.running--
      if (this.running > 0) return
      const waiters = this.waiters
      this.waiters = []
      for (const resolve of waiters) resolve()
    }
  }

  /**
   * Resolves once no run is in flight, or after `ms`. Created by the caller, so the promise belongs to the caller's
   * request (whoever resolves it). A wait that times out leaves the list: while some run stays in flight (one stuck
   * for good, say), every request's wait would otherwise stay in it, and the isolate's memory grow with each request
   * (found by the 1,000-task soak: ~2,000 waits kept).
   */
  idle(ms: number): Promise<void> {
    if (this.running === 0 || ms <= 0) return Promise.resolve()
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer)
        resolve()
      }
      const timer = setTimeout(() => {
        const at = this.waiters.indexOf(wake)
        if (at >= 0) this.waiters.splice(at, 1)
        resolve()
      }, ms)
      this.waiters.push(wake)
    })
  }
}

/** The Background service, and the registry of this isolate's runs for other work to join. */
export interface Tracked {
  readonly service: Background.Background["Service"]
  /**
   * Counts `work` as a run of this isolate (other requests stay alive while it is in flight); the returned promise
   * settles once `work` has and, at most `keepAliveMs` later, no run is in flight. For `scheduled`.
   */
  readonly hold: (work: Promise<unknown>) => Promise<void>
  /** Requests waiting for the isolate's runs to end (`keepAliveMs` at most each): for tests and diagnostics. */
  readonly waiting: () => number
}

/**
 * @category constructors
 */
export const makeTracked = (options: Options = {}): Tracked => {
  const runs = new Runs()
  const keepAliveMs = options.keepAliveMs ?? 20_000
  /**
   * One run of the isolate: counted as in flight at once, done when `work` settles or calls `done` (whichever request's
   * code that is), its request kept open until then and, at most `keepAliveMs` longer, until no run is in flight.
   */
  const track = (work: (done: () => void) => Promise<unknown>): Promise<void> => {
    const done = runs.start()
    return pinned(work(done)).then(done, done).then(() => runs.idle(keepAliveMs))
  }
  const hold = (work: Promise<unknown>): Promise<void> => track(() => work)
  const service = Background.Background.of({
    run: (effect) =>
      Effect.withFiber((fiber) => {
        const ctx = fiber.getRef(CurrentExecutionContext)
        if (ctx === undefined) return logged(effect)
        // A root fiber of its own: the request fiber ends (and may be interrupted by a client abort) before it does.
        // Started from a timer, not here: a fiber runs synchronously up to its first wait, and that part would
        // otherwise run before the answer it follows. Done when the fiber ends, counted by the fiber itself (see the
        // header).
        const context = fiber.context
        ctx.waitUntil(track((done) =>
          afterAnswer().then(() =>
            new Promise<void>((resolve) => {
              Effect.runForkWith(context)(logged(effect)).addObserver(() => {
                done()
                resolve()
              })
            })
          )
        ))
        return Effect.void
      })
  })
  return { service, hold, waiting: () => runs.waiting }
}

/**
 * @category constructors
 */
export const make = (options: Options = {}): Background.Background["Service"] => makeTracked(options).service

/**
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<Background.Background> =>
  Layer.sync(Background.Background, () => make(options))

/**
 * Core's `Background` on Cloudflare Workers: work handed to `run` continues after the HTTP answer under the
 * request's `ctx.waitUntil`. The Worker passes each request's `ExecutionContext` through the web handler's
 * context argument (`CurrentExecutionContext`), and `run` reads it from the calling fiber.
 *
 * Cannot: outlive Cloudflare's limit — `waitUntil` work gets at most 30 s after the answer, then it is cancelled.
 * A delivery whose handling was cut short stays claimed but not completed, and the watchdog handles it again
 * (`deliveryRetryAfterMs`); a stuck dispatch is re-dispatched by the same sweep.
 */
import { Cause, Context, Effect, Layer } from "effect"
import { Background } from "@porter/core"

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

const logged = (effect: Effect.Effect<void>) =>
  Effect.catchCause(effect, (cause) =>
    Cause.hasInterruptsOnly(cause)
      ? Effect.logWarning("background work was interrupted")
      : Effect.logError("background work failed", { cause }))

/**
 * @category constructors
 */
export const make: Background.Background["Service"] = Background.Background.of({
  run: (effect) =>
    Effect.withFiber((fiber) => {
      const ctx = fiber.getRef(CurrentExecutionContext)
      if (ctx === undefined) return logged(effect)
      // A root fiber of its own: the request fiber ends (and may be interrupted by a client abort) before it does.
      ctx.waitUntil(Effect.runPromiseWith(fiber.context)(logged(effect)))
      return Effect.void
    })
})

/**
 * @category layers
 */
export const layer: Layer.Layer<Background.Background> = Layer.succeed(Background.Background, make)

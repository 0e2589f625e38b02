/**
 * Background: work that continues after an HTTP answer. On Workers it is `ctx.waitUntil`; in a Node
 * host, a fiber owned by the host's scope; in tests, inline.
 */
import { Context, Effect, FiberSet, Layer } from "effect"

/** Where work that outlives a request runs (fibers on Node, `waitUntil` on Workers, inline in tests). */
export class Background extends Context.Service<Background, {
  /** Starts `effect` so that it outlives the caller; failures are the effect's own business. */
  readonly run: (effect: Effect.Effect<void>) => Effect.Effect<void>
}>()("@porter/core/Background") {}

/** Runs the work before returning (tests, CLIs): deterministic, the caller waits. */
export const layerInline: Layer.Layer<Background> = Layer.succeed(
  Background,
  Background.of({ run: (effect) => effect })
)

/** Forks the work into fibers owned by the layer's scope; closing the scope interrupts them. */
export const layerFork: Layer.Layer<Background> = Layer.effect(
  Background,
  Effect.gen(function*() {
    const set = yield* FiberSet.make()
    return Background.of({ run: (effect) => Effect.asVoid(FiberSet.run(set, effect)) })
  })
)

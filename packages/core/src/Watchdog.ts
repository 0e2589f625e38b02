/**
 * Watchdog: one sweep ends hung runs (deadline passed, heartbeat missing → `timed_out`, machine
 * destroyed, issue told), re-dispatches stuck tasks, destroys orphan machines and retries
 * deliveries whose handling never finished. Hosts drive it: a Cron Trigger on Workers
 * (`scheduled`), `layerTimer` in a Node host.
 */
import { Context, Effect, Layer, Schedule } from "effect"
import { Porter, type SweepReport } from "./Porter.ts"

export class Watchdog extends Context.Service<Watchdog, {
  readonly sweep: Effect.Effect<SweepReport>
}>()("@porter/core/Watchdog") {}

export const layer: Layer.Layer<Watchdog, never, Porter> = Layer.effect(
  Watchdog,
  Effect.gen(function*() {
    const porter = yield* Porter
    return Watchdog.of({ sweep: porter.sweep })
  })
)

/** Sweeps every `intervalMs` for as long as the layer lives (Node hosts). */
export const layerTimer = (intervalMs: number): Layer.Layer<never, never, Watchdog> =>
  Layer.effectDiscard(
    Effect.gen(function*() {
      const watchdog = yield* Watchdog
      yield* Effect.forkScoped(
        watchdog.sweep.pipe(Effect.repeat(Schedule.spaced(intervalMs)), Effect.asVoid)
      )
    })
  )

/**
 * What the runner's integration tests share: the git forge (the GitHub emulator), the fake Porter in front of it
 * (callbacks, the read-only git proxy, change sets), and the runner bundle built once. Temporary directories go when
 * the layer is released.
 */
import { Context, Effect, Layer } from "effect"
import * as FakePorter from "./FakePorter.ts"
import * as Forge from "./Forge.ts"
import { buildBundle, removeTempDirs } from "./Harness.ts"

export class Fixture extends Context.Service<Fixture, {
  readonly forge: Forge.Forge
  readonly porter: FakePorter.FakePorter
  /** The runner bundle (`dist/runner.mjs`). */
  readonly entry: string
}>()("test/runner/Fixture") {
  static readonly layer = Layer.effect(
    Fixture,
    Effect.gen(function*() {
      yield* Effect.addFinalizer(() => Effect.sync(removeTempDirs))
      const forge = yield* Effect.acquireRelease(Effect.promise(Forge.start), (f) => Effect.promise(f.close))
      const porter = yield* Effect.acquireRelease(
        Effect.promise(() => FakePorter.start(forge)),
        (p) => Effect.promise(p.close)
      )
      const entry = yield* Effect.promise(buildBundle)
      return { forge, porter, entry }
    })
  )
}

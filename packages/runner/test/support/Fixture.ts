/**
 * What the runner's integration tests share: the git forge (the GitHub emulator), a callback server recording what
 * the runner reports, and the runner bundle built once. Temporary directories go when the layer is released.
 */
import { Context, Effect, Layer } from "effect"
import * as Forge from "./Forge.ts"
import { buildBundle, type CallbackServer, removeTempDirs, startCallbackServer } from "./Harness.ts"

export class Fixture extends Context.Service<Fixture, {
  readonly forge: Forge.Forge
  readonly callbacks: CallbackServer
  /** The runner bundle (`dist/runner.mjs`). */
  readonly entry: string
}>()("test/runner/Fixture") {
  static readonly layer = Layer.effect(
    Fixture,
    Effect.gen(function*() {
      yield* Effect.addFinalizer(() => Effect.sync(removeTempDirs))
      const forge = yield* Effect.acquireRelease(Effect.promise(Forge.start), (f) => Effect.promise(f.close))
      const callbacks = yield* Effect.acquireRelease(
        Effect.promise(startCallbackServer),
        (c) => Effect.promise(c.close)
      )
      const entry = yield* Effect.promise(buildBundle)
      return { forge, callbacks, entry }
    })
  )
}

/** The Authorizer contract: who may run, given fixtures with known permissions. */
import { assert, describe, layer as withLayer } from "@effect/vitest"
import { Authorizer, type Repo } from "@porter/core"
import { Effect, Layer } from "effect"

/** The users the `Authorizer` suite needs the backend to know, by role. */
export interface Fixtures {
  readonly repo: Repo.RepoRef
  readonly installationId?: number
  /** Accounts with exactly these permissions on `repo`. */
  readonly admin: Repo.Actor
  readonly write: Repo.Actor
  readonly read: Repo.Actor
  readonly none: Repo.Actor
}

/** Registers the `Authorizer` contract's tests against `layer`. */
export const run = <E>(
  name: string,
  layer: Layer.Layer<Authorizer.Authorizer, E>,
  fixtures: Fixtures | Effect.Effect<Fixtures>
) =>
  describe(`Authorizer conformance: ${name}`, () => {
    withLayer(layer, { timeout: 60_000, excludeTestServices: true })((it) => {
      const get = Effect.isEffect(fixtures) ? fixtures : Effect.succeed(fixtures)
      it.effect("admin and write may run; read and none may not, with a reason", () =>
        Effect.gen(function*() {
          const a = yield* Authorizer.Authorizer
          const f = yield* get
          const check = (actor: Repo.Actor) => a.authorize(f.repo, actor, f.installationId)
          assert.isTrue((yield* check(f.admin)).allowed)
          assert.isTrue((yield* check(f.write)).allowed)
          for (const actor of [f.read, f.none]) {
            const decision = yield* check(actor)
            assert.isFalse(decision.allowed)
            if (!decision.allowed) assert.isAbove(decision.reason.length, 0)
          }
        }))
    })
  })

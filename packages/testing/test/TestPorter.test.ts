// TestPorter's options: agent keys by default (a `@porter claude …` starts a machine), none on request (the missing
// key is answered, no machine), and `replace` (a real layer in place of the in-memory provisioner: Porter uses it).
import { assert, describe, it } from "@effect/vitest"
import { MachineProvisioner, Porter, SecretStore } from "@porter/core"
import { Fixtures, GitHubRecorder, InMemoryProvisioner, Machines, TestPorter } from "@porter/testing"
import { Effect, Layer, Option, Ref } from "effect"

const ask = (body: string) =>
  Effect.gen(function*() {
    const porter = yield* Porter.Porter
    yield* porter.handle(Fixtures.commentCreated({ body }))
  })

describe("TestPorter", () => {
  it.effect("stores a fake key for every built-in agent, so a request for claude starts a machine", () =>
    Effect.gen(function*() {
      const secrets = yield* SecretStore.SecretStore
      const key = yield* secrets.get(SecretStore.scopes.global, SecretStore.SecretName.make("ANTHROPIC_API_KEY"))
      assert.isTrue(Option.isSome(key))
      yield* ask("@porter claude add a line")
      const created = yield* (yield* Machines).created
      assert.strictEqual(created.length, 1)
    }).pipe(Effect.provide(TestPorter.layer())))

  it.effect("agentKeys: {} stores none: the request is answered and starts nothing", () =>
    Effect.gen(function*() {
      yield* ask("@porter claude add a line")
      assert.strictEqual((yield* (yield* Machines).created).length, 0)
      const comments = yield* (yield* GitHubRecorder).comments("octo-org/hello-world#1")
      assert.isAbove(comments.length, 0)
    }).pipe(Effect.provide(TestPorter.layer({ agentKeys: {} }))))

  it.effect("replace: Porter starts its machines on the replacing provisioner, not the in-memory one", () =>
    Effect.gen(function*() {
      const seen = yield* Ref.make<ReadonlyArray<string>>([])
      // A "real" provisioner: any layer of MachineProvisioner (here one that records and delegates).
      const recording = Layer.effect(
        MachineProvisioner.MachineProvisioner,
        Effect.map(InMemoryProvisioner.make, ({ provisioner }) =>
          MachineProvisioner.MachineProvisioner.of({
            ...provisioner,
            create: (spec) =>
              Effect.flatMap(Ref.update(seen, (s) => [...s, spec.taskId]), () => provisioner.create(spec))
          }))
      )
      yield* Effect.gen(function*() {
        yield* ask("@porter claude add a line")
        assert.strictEqual((yield* Ref.get(seen)).length, 1)
        assert.strictEqual((yield* (yield* Machines).created).length, 0)
      }).pipe(Effect.provide(TestPorter.layer({ replace: recording })))
    }))

  it("AGENT_KEYS names each built-in agent's key", () => {
    assert.includeMembers(Object.keys(TestPorter.AGENT_KEYS), ["ANTHROPIC_API_KEY", "OPENAI_API_KEY"])
  })
})

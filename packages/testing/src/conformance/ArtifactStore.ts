/** The ArtifactStore contract, run by every adapter (in memory, SQL on SQLite, D1 and PostgreSQL, files, gists). */
import { assert, describe, layer as withLayer } from "@effect/vitest"
import { ArtifactStore, Ids } from "@porter/core"
import { Effect, type Layer, Option } from "effect"

const artifact = (
  taskId: Ids.TaskId,
  kind: ArtifactStore.ArtifactKind,
  content: string,
  storedAt: number
) =>
  new ArtifactStore.Artifact({
    taskId,
    kind,
    agent: "claude",
    name: kind === "session" ? "0f6d7c1e-2b4a-4f7e-9a51-3c1d2e4f5a6b" : "transcript.md",
    content,
    storedAt
  })

/** Registers the `ArtifactStore` contract's tests against `layer`. */
export const run = <E>(name: string, layer: Layer.Layer<ArtifactStore.ArtifactStore, E>) =>
  describe(`ArtifactStore conformance: ${name}`, () => {
    withLayer(layer, { timeout: 60_000, excludeTestServices: true })((it) => {
      it.effect("a task without artifacts has none", () =>
        Effect.gen(function*() {
          const store = yield* ArtifactStore.ArtifactStore
          const taskId = yield* Ids.makeTaskId
          assert.isTrue(Option.isNone(yield* store.get(taskId, "session")))
          assert.isTrue(Option.isNone(yield* store.get(taskId, "transcript")))
        }))

      it.effect("a session and a transcript are kept apart, as given, text unchanged", () =>
        Effect.gen(function*() {
          const store = yield* ArtifactStore.ArtifactStore
          const taskId = yield* Ids.makeTaskId
          const lines = `{"type":"user","message":"héllo ✓"}\n{"type":"assistant","message":"\\u0000 <b>&amp;"}\n`
          yield* store.put(artifact(taskId, "session", lines, Date.now()))
          yield* store.put(artifact(taskId, "transcript", "# Transcript\n\nsaid things\n", Date.now()))
          const session = Option.getOrThrow(yield* store.get(taskId, "session"))
          assert.strictEqual(session.content, lines)
          assert.strictEqual(session.name, "0f6d7c1e-2b4a-4f7e-9a51-3c1d2e4f5a6b")
          assert.strictEqual(session.agent, "claude")
          assert.strictEqual(session.taskId, taskId)
          assert.strictEqual(
            Option.getOrThrow(yield* store.get(taskId, "transcript")).content.slice(0, 12),
            "# Transcript"
          )
          assert.isTrue(Option.isNone(yield* store.get(taskId, "diff")))
          // Another task's are not this one's.
          assert.isTrue(Option.isNone(yield* store.get(yield* Ids.makeTaskId, "session")))
        }))

      it.effect("a second put of the same kind replaces the first", () =>
        Effect.gen(function*() {
          const store = yield* ArtifactStore.ArtifactStore
          const taskId = yield* Ids.makeTaskId
          yield* store.put(artifact(taskId, "session", "first\n", Date.now()))
          yield* store.put(artifact(taskId, "session", "second\n", Date.now()))
          assert.strictEqual(Option.getOrThrow(yield* store.get(taskId, "session")).content, "second\n")
        }))

      it.effect("purge drops what was stored before the cut-off, and only that", () =>
        Effect.gen(function*() {
          const store = yield* ArtifactStore.ArtifactStore
          const old = yield* Ids.makeTaskId
          const recent = yield* Ids.makeTaskId
          const now = Date.now()
          yield* store.put(artifact(old, "session", "old\n", now - 40 * 86_400_000))
          yield* store.put(artifact(old, "transcript", "old\n", now - 40 * 86_400_000))
          yield* store.put(artifact(recent, "session", "recent\n", now))
          const dropped = yield* store.purge(now - 30 * 86_400_000)
          assert.isAtLeast(dropped, 2)
          assert.isTrue(Option.isNone(yield* store.get(old, "session")))
          assert.isTrue(Option.isNone(yield* store.get(old, "transcript")))
          assert.strictEqual(Option.getOrThrow(yield* store.get(recent, "session")).content, "recent\n")
        }))

      it.effect("a large session (half a MiB) is kept whole", () =>
        Effect.gen(function*() {
          const store = yield* ArtifactStore.ArtifactStore
          const taskId = yield* Ids.makeTaskId
          const line = `{"type":"assistant","text":"${"x".repeat(1000)}"}\n`
          const content = line.repeat(512)
          yield* store.put(artifact(taskId, "session", content, Date.now()))
          assert.strictEqual(Option.getOrThrow(yield* store.get(taskId, "session")).content.length, content.length)
        }))
    })
  })

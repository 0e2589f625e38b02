/**
 * ArtifactStore in memory: one map by task and kind (tests, hosts that keep nothing). `failWith` makes every call
 * fail, for a mirror that is down.
 */
import { ArtifactStore } from "@porter/core"
import { Effect, Layer, Option } from "effect"

/** How the in-memory artifact store behaves (`failWith`: a store that is down). */
export interface Options {
  /** Every call fails with this message (a store that is down). */
  readonly failWith?: string
}

/** An `ArtifactStore` in memory (nothing survives the process). */
export const make = (options: Options = {}): Effect.Effect<ArtifactStore.ArtifactStore["Service"]> =>
  Effect.sync(() => {
    const kept = new Map<string, ArtifactStore.Artifact>()
    const key = (taskId: string, kind: ArtifactStore.ArtifactKind) => `${taskId}:${kind}`
    const down = options.failWith === undefined
      ? Effect.void
      : Effect.fail(new ArtifactStore.ArtifactError({ message: options.failWith }))
    return ArtifactStore.ArtifactStore.of({
      put: (artifact) =>
        Effect.map(down, () => {
          kept.set(key(artifact.taskId, artifact.kind), artifact)
          return Option.none<string>()
        }),
      get: (taskId, kind) => Effect.map(down, () => Option.fromNullishOr(kept.get(key(taskId, kind)))),
      purge: (before) =>
        Effect.map(down, () => {
          let dropped = 0
          for (const [k, artifact] of kept) {
            if (artifact.storedAt < before) {
              kept.delete(k)
              dropped++
            }
          }
          return dropped
        })
    })
  })

/** `ArtifactStore` in memory, with the default options. */
export const layer: Layer.Layer<ArtifactStore.ArtifactStore> = Layer.effect(ArtifactStore.ArtifactStore, make())

/** A store whose every call fails with `message`. */
export const layerDown = (message: string): Layer.Layer<ArtifactStore.ArtifactStore> =>
  Layer.effect(ArtifactStore.ArtifactStore, make({ failWith: message }))

/** SecretStore in memory: values kept as `Redacted`, listing returns names only; nothing is encrypted (rotation has nothing to do). */
import { SecretStore } from "@porter/core"
import { Effect, Layer, Option, Redacted, Ref } from "effect"

interface Entry {
  readonly scope: SecretStore.SecretScope
  readonly name: string
  readonly value: Redacted.Redacted<string>
  readonly updatedAt: number
}

const key = (scope: SecretStore.SecretScope, name: string) => `${SecretStore.scopeKey(scope)}\u0000${name}`

/** A `SecretStore` in memory holding `initial` (values kept as `Redacted`, nothing encrypted). */
export const make = (
  initial: ReadonlyArray<{ scope: SecretStore.SecretScope; name: string; value: string }> = []
): Effect.Effect<SecretStore.SecretStore["Service"]> =>
  Effect.gen(function*() {
    const entries = yield* Ref.make(
      new Map<string, Entry>(
        initial.map((e) => [key(e.scope, e.name), { ...e, value: Redacted.make(e.value), updatedAt: 0 }])
      )
    )
    const get = (scope: SecretStore.SecretScope, name: string) =>
      Effect.map(Ref.get(entries), (map) => Option.map(Option.fromNullishOr(map.get(key(scope, name))), (e) => e.value))
    return SecretStore.SecretStore.of({
      set: (scope, name, value) =>
        Effect.flatMap(Effect.clockWith((clock) => clock.currentTimeMillis), (now) =>
          Ref.update(entries, (map) =>
            new Map(map).set(key(scope, name), { scope, name, value, updatedAt: now }))),
      get,
      resolveAll: (names, chain) =>
        Effect.map(Ref.get(entries), (map) => {
          const found = new Map<SecretStore.SecretName, SecretStore.ResolvedSecret>()
          for (const name of names) {
            for (const scope of SecretStore.chainScopes(chain)) {
              const entry = map.get(key(scope, name))
              if (entry) {
                found.set(name, { scope, value: entry.value })
                break
              }
            }
          }
          return found
        }),
      rotate: () =>
        Effect.succeed({ rotated: 0, failed: 0, failures: [], currentKeyId: "none" }),
      resolve: (name, chain) =>
        Effect.map(Ref.get(entries), (map) => {
          for (const scope of SecretStore.chainScopes(chain)) {
            const entry = map.get(key(scope, name))
            if (entry) return Option.some({ scope, value: entry.value })
          }
          return Option.none()
        }),
      list: (scope) =>
        Effect.map(Ref.get(entries), (map) =>
          [...map.values()]
            .filter((e) => scope === undefined || SecretStore.scopeKey(e.scope) === SecretStore.scopeKey(scope))
            .map((e) => ({ scope: e.scope, name: e.name, updatedAt: e.updatedAt }))
            .sort((a, b) => a.name.localeCompare(b.name))),
      delete: (scope, name) =>
        Ref.modify(entries, (map) => {
          const k = key(scope, name)
          if (!map.has(k)) return [false, map]
          const next = new Map(map)
          next.delete(k)
          return [true, next]
        })
    })
  })

/** `SecretStore` in memory, holding `initial`. */
export const layer = (
  initial: ReadonlyArray<{ scope: SecretStore.SecretScope; name: string; value: string }> = []
): Layer.Layer<SecretStore.SecretStore> => Layer.effect(SecretStore.SecretStore, make(initial))

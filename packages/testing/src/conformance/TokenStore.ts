/** The TokenStore contract (`@porter/web`: users' personal Porter tokens), run by every adapter. */
import { assert, describe, layer as withLayer } from "@effect/vitest"
import { TokenStore } from "@porter/web"
import { Effect, type Layer, Option } from "effect"

let serial = 0
const unique = () => `${Date.now().toString(36)}${(serial++).toString(36)}`

const NOW = Date.UTC(2026, 11, 15, 12)
const DAY = 24 * 60 * 60_000

const token = (
  fields: Partial<ConstructorParameters<typeof TokenStore.StoredToken>[0]> & { readonly userId: number }
) =>
  new TokenStore.StoredToken({
    id: `tok${unique()}`,
    hash: `h${unique()}`.padEnd(64, "0"),
    login: "octocat",
    name: "laptop",
    githubToken: "iv.sealed",
    createdAt: NOW,
    expiresAt: NOW + 30 * DAY,
    ...fields
  })

/** Registers the `TokenStore` contract's tests against `layer`. */
export const run = <E>(name: string, layer: Layer.Layer<TokenStore.TokenStore, E>) =>
  describe(`TokenStore conformance: ${name}`, () => {
    withLayer(layer, { timeout: 60_000, excludeTestServices: true })((it) => {
      it.effect("a stored token is found by its hash, with every field as it was put", () =>
        Effect.gen(function*() {
          const store = yield* TokenStore.TokenStore
          const stored = token({ userId: 700_000 + serial++, name: "Claude Code — laptop ✓" })
          yield* store.put(stored)
          const found = yield* store.findByHash(stored.hash)
          assert.isTrue(Option.isSome(found))
          assert.deepStrictEqual({ ...Option.getOrThrow(found) }, { ...stored })
          assert.isTrue(Option.isNone(yield* store.findByHash(`nope${unique()}`)))
        }))

      it.effect("a user's tokens are listed newest first, and only theirs", () =>
        Effect.gen(function*() {
          const store = yield* TokenStore.TokenStore
          const userId = 710_000 + serial++
          const older = token({ userId, createdAt: NOW - DAY })
          const newer = token({ userId, createdAt: NOW })
          const someoneElse = token({ userId: userId + 1 })
          yield* Effect.forEach([older, newer, someoneElse], store.put, { discard: true })
          const listed = yield* store.listByUser(userId)
          assert.deepStrictEqual(listed.map((t) => t.id), [newer.id, older.id])
          assert.deepStrictEqual(yield* store.listByUser(userId + 2), [])
        }))

      it.effect("revoking removes the user's own token only; another user's id is left alone", () =>
        Effect.gen(function*() {
          const store = yield* TokenStore.TokenStore
          const userId = 720_000 + serial++
          const mine = token({ userId })
          const theirs = token({ userId: userId + 1 })
          yield* store.put(mine)
          yield* store.put(theirs)
          assert.isFalse(yield* store.revoke(userId, theirs.id))
          assert.isTrue(Option.isSome(yield* store.findByHash(theirs.hash)))
          assert.isTrue(yield* store.revoke(userId, mine.id))
          assert.isFalse(yield* store.revoke(userId, mine.id))
          assert.isTrue(Option.isNone(yield* store.findByHash(mine.hash)))
        }))

      it.effect("putting a token again replaces it (same id)", () =>
        Effect.gen(function*() {
          const store = yield* TokenStore.TokenStore
          const first = token({ userId: 730_000 + serial++ })
          yield* store.put(first)
          const replaced = new TokenStore.StoredToken({ ...first, name: "renamed", githubToken: "iv.other" })
          yield* store.put(replaced)
          const listed = yield* store.listByUser(first.userId)
          assert.strictEqual(listed.length, 1)
          assert.strictEqual(listed[0]!.name, "renamed")
          assert.strictEqual(listed[0]!.githubToken, "iv.other")
        }))

      it.effect("ended tokens are deleted by deleteExpired; live ones stay", () =>
        Effect.gen(function*() {
          const store = yield* TokenStore.TokenStore
          const userId = 740_000 + serial++
          const ended = token({ userId, createdAt: 1_000, expiresAt: 2_000 })
          const live = token({ userId, createdAt: 1_000, expiresAt: NOW + DAY })
          yield* store.put(ended)
          yield* store.put(live)
          const removed = yield* store.deleteExpired(3_000)
          assert.isAtLeast(removed, 1)
          assert.deepStrictEqual((yield* store.listByUser(userId)).map((t) => t.id), [live.id])
        }))
    })
  })

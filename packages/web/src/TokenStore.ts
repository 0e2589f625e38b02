/**
 * TokenStore: users' personal Porter tokens (what an MCP client sends as `Authorization: Bearer porter_pat_…`), one
 * row per token. A row holds the SHA-256 of the token (the token itself is shown once, when it is made, and never
 * stored), its public id (to list and revoke it), the GitHub user it acts for, a name the user gave it, the user's
 * GitHub token sealed with the session keys (`SessionKeys.seal`, bound to the row: Porter acts on GitHub as the user
 * with it), and when it was made and ends.
 *
 * Layers: `layerMemory` (tests, single-process hosts) and `SqlTokenStore.layer` (D1 or SQLite through effect's
 * `SqlClient`; migration `0008_mcp_tokens.sql`). Every layer passes `TokenStoreSuite` (`@porter/testing`).
 */
import { Errors } from "@porter/core"
import { Context, Effect, Layer, Option, Ref, Schema } from "effect"

/** A personal token as stored: its hash, public id, user, name, sealed GitHub token, start and end. */
export class StoredToken extends Schema.Class<StoredToken>("@porter/web/StoredToken")({
  /** Public id (shown in the list, used to revoke). */
  id: Schema.String,
  /** SHA-256 (hex) of the token. */
  hash: Schema.String,
  userId: Schema.Int,
  login: Schema.String,
  name: Schema.String,
  /** The user's GitHub token, sealed (`iv.ciphertext`, base64url). */
  githubToken: Schema.String,
  createdAt: Schema.Number,
  expiresAt: Schema.Number
}) {}

/** Where personal tokens are kept: by hash, listed and revoked by id. */
export class TokenStore extends Context.Service<TokenStore, {
  readonly put: (token: StoredToken) => Effect.Effect<void, Errors.StoreError>
  /** The token whose hash is `hash`, expired or not. */
  readonly findByHash: (hash: string) => Effect.Effect<Option.Option<StoredToken>, Errors.StoreError>
  /** A user's tokens, newest first. */
  readonly listByUser: (userId: number) => Effect.Effect<ReadonlyArray<StoredToken>, Errors.StoreError>
  /** Removes one of `userId`'s tokens; `true` when there was one (another user's id removes nothing). */
  readonly revoke: (userId: number, id: string) => Effect.Effect<boolean, Errors.StoreError>
  /** Removes tokens that ended before `now`; how many. */
  readonly deleteExpired: (now: number) => Effect.Effect<number, Errors.StoreError>
}>()("@porter/web/TokenStore") {}

/** Tokens in this process's memory. */
export const makeMemory: Effect.Effect<TokenStore["Service"]> = Effect.gen(function*() {
  const rows = yield* Ref.make(new Map<string, StoredToken>())
  const remove = (keep: (token: StoredToken) => boolean) =>
    Ref.modify(rows, (map) => {
      const next = new Map([...map].filter(([, token]) => keep(token)))
      return [map.size - next.size, next] as const
    })
  return TokenStore.of({
    put: (token) => Ref.update(rows, (map) => new Map(map).set(token.id, token)),
    findByHash: (hash) =>
      Effect.map(Ref.get(rows), (map) => Option.fromNullishOr([...map.values()].find((token) => token.hash === hash))),
    listByUser: (userId) =>
      Effect.map(
        Ref.get(rows),
        (map) =>
          [...map.values()].filter((token) => token.userId === userId).sort((a, b) =>
            b.createdAt - a.createdAt || b.id.localeCompare(a.id)
          )
      ),
    revoke: (userId, id) => Effect.map(remove((token) => !(token.id === id && token.userId === userId)), (n) => n > 0),
    deleteExpired: (now) => remove((token) => token.expiresAt >= now)
  })
})

/** @category layers */
export const layerMemory: Layer.Layer<TokenStore> = Layer.effect(TokenStore, makeMemory)

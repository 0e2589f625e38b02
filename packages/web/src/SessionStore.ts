/**
 * SessionStore: the web app's sign-ins, one row per session. A row holds the hash of the session id (the cookie
 * carries the id itself, so the table alone signs nobody in), the GitHub user, the user's GitHub token sealed with the
 * session keys (`SessionKeys.seal`, bound to the row), and when the session began and ends.
 *
 * Layers: `layerMemory` (tests, single-process hosts) and `SqlSessionStore.layer` (D1 or SQLite through effect's
 * `SqlClient`; migration `0005_web.sql`).
 */
import { Errors } from "@porter/core"
import { Context, Effect, Layer, Option, Ref, Schema } from "effect"

/** A session as stored: the id's hash, the user, their sealed GitHub token, its start and end. */
export class StoredSession extends Schema.Class<StoredSession>("@porter/web/StoredSession")({
  /** SHA-256 (hex) of the session id. */
  idHash: Schema.String,
  userId: Schema.Int,
  login: Schema.String,
  /** The GitHub token, sealed (`iv.ciphertext`, base64url). */
  token: Schema.String,
  createdAt: Schema.Number,
  expiresAt: Schema.Number
}) {}

/** Where sign-ins are kept: by the id's hash, expired ones removed now and then. */
export class SessionStore extends Context.Service<SessionStore, {
  readonly put: (session: StoredSession) => Effect.Effect<void, Errors.StoreError>
  readonly get: (idHash: string) => Effect.Effect<Option.Option<StoredSession>, Errors.StoreError>
  /** `true` when a session was removed. */
  readonly delete: (idHash: string) => Effect.Effect<boolean, Errors.StoreError>
  /** Removes sessions that ended before `now`; how many. */
  readonly deleteExpired: (now: number) => Effect.Effect<number, Errors.StoreError>
}>()("@porter/web/SessionStore") {}

/** Sessions in this process's memory. */
export const makeMemory: Effect.Effect<SessionStore["Service"]> = Effect.gen(function*() {
  const rows = yield* Ref.make(new Map<string, StoredSession>())
  return SessionStore.of({
    put: (session) => Ref.update(rows, (map) => new Map(map).set(session.idHash, session)),
    get: (idHash) => Effect.map(Ref.get(rows), (map) => Option.fromNullishOr(map.get(idHash))),
    delete: (idHash) =>
      Ref.modify(rows, (map) => {
        if (!map.has(idHash)) return [false, map]
        const next = new Map(map)
        next.delete(idHash)
        return [true, next]
      }),
    deleteExpired: (now) =>
      Ref.modify(rows, (map) => {
        const next = new Map([...map].filter(([, session]) => session.expiresAt >= now))
        return [map.size - next.size, next]
      })
  })
})

/** @category layers */
export const layerMemory: Layer.Layer<SessionStore> = Layer.effect(SessionStore, makeMemory)

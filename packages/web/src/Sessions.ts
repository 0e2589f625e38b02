/**
 * Sessions: who is signed in, the CSRF token of each session, and the OAuth `state` of a sign-in in progress.
 *
 * - The session cookie is `<id>.<tag>`: a random 256-bit id and its HMAC (`SessionKeys`, purpose `session`), so a
 *   forged or altered cookie is refused before storage is asked. The store keeps the id's SHA-256 only, the GitHub
 *   user, the user's token sealed (bound to the row) and the end of the session; an expired or deleted row is no
 *   session, whatever the cookie says. Cookies are `HttpOnly`, `SameSite=Lax`, `Path=/`, with `Max-Age`; on an
 *   https public URL they are `Secure` and named `__Host-…` (a cookie the browser binds to this host).
 * - The CSRF token of a session is the HMAC of its id (purpose `csrf`): every form that changes something carries it,
 *   and `checkCsrf` compares in constant time. It changes with each sign-in and means nothing without the cookie.
 * - A sign-in in progress keeps its OAuth `state` (random) and the page to return to in a short-lived signed cookie
 *   (10 minutes); the callback must present the same `state`.
 */
import type { Errors } from "@porter/core"
import { Clock, Context, Effect, Layer, Option, type Redacted } from "effect"
import { Mac } from "effect/crypto"
import { Base64Url } from "effect/encoding"
import { SessionKeys } from "./SessionKeys.ts"
import { SessionStore, StoredSession } from "./SessionStore.ts"
import { WebConfig } from "./WebConfig.ts"

/** A signed-in session: its user, their GitHub token, its CSRF token and end. */
export interface Session {
  readonly idHash: string
  readonly userId: number
  readonly login: string
  /** The user's GitHub token (user-to-server): server side only. */
  readonly token: Redacted.Redacted<string>
  readonly expiresAt: number
  /** The token every state-changing form of this session carries. */
  readonly csrf: string
}

/** A cookie to set (`maxAgeSeconds` 0: remove it). */
export interface Cookie {
  readonly name: string
  readonly value: string
  readonly maxAgeSeconds: number
}

/** A session just started: it and the cookie that carries it. */
export interface Started {
  readonly session: Session
  readonly cookie: Cookie
}

/** Who is signed in: sessions from cookies, sign-in and sign-out, CSRF tokens, OAuth state. */
export class Sessions extends Context.Service<Sessions, {
  readonly cookieName: string
  readonly oauthCookieName: string
  /** Signs `user` in with their GitHub token: a new session and its cookie. */
  readonly start: (
    user: { readonly id: number; readonly login: string },
    token: Redacted.Redacted<string>
  ) => Effect.Effect<Started, Errors.StoreError>
  /** The session a cookie value names, if it is genuine, stored and not expired. */
  readonly current: (cookie: string | undefined) => Effect.Effect<Option.Option<Session>, Errors.StoreError>
  /** Signs out: the session is removed; the cookie that clears it. */
  readonly end: (session: Session) => Effect.Effect<Cookie, Errors.StoreError>
  /** Whether `presented` is the session's CSRF token (constant time). */
  readonly checkCsrf: (session: Session, presented: string | undefined) => boolean
  /** Starts a sign-in: the `state` to send to GitHub and the cookie that remembers it (and `returnTo`). */
  readonly beginOAuth: (returnTo: string) => Effect.Effect<{ readonly state: string; readonly cookie: Cookie }>
  /** The page to return to when `state` is the one the cookie remembers (and it is recent); else `None`. */
  readonly finishOAuth: (cookie: string | undefined, state: string | undefined) => Effect.Effect<Option.Option<string>>
  /** A cookie that removes `name`. */
  readonly clear: (name: string) => Cookie
}>()("@porter/web/Sessions") {}

const OAUTH_TTL_MS = 10 * 60_000
const encoder = new TextEncoder()

/** Constant-time equality of two strings. */
export const sameText = (a: string, b: string): boolean => Mac.timingSafeEqual(encoder.encode(a), encoder.encode(b))

/** A path on this site under `/app` (no scheme, no host, no `//`): what a sign-in may return to. */
export const safeReturn = (path: string | undefined): string =>
  path !== undefined && /^\/app(?:[/?#]|$)/.test(path) && !path.includes("//") && !path.includes("\\")
    ? path
    : "/app"

/** `Sessions` on a `SessionStore`, the session keys and the web configuration. */
export const make = Effect.gen(function*() {
  const config = yield* WebConfig
  const keys = yield* SessionKeys
  const store = yield* SessionStore
  const prefix = config.secureCookies ? "__Host-" : ""
  const cookieName = `${prefix}porter_session`
  const oauthCookieName = `${prefix}porter_oauth`
  const ttlSeconds = Math.floor(config.sessionTtlMs / 1000)
  const tokenAad = (idHash: string, userId: number) => `porter/web/session/${idHash}/${userId}`
  const csrfOf = (id: string) => keys.sign("csrf", id)

  const start = Effect.fn("Sessions.start")(function*(
    user: { readonly id: number; readonly login: string },
    token: Redacted.Redacted<string>
  ) {
    const now = yield* Clock.currentTimeMillis
    const id = yield* keys.random(32)
    const idHash = yield* keys.digest(id)
    const expiresAt = now + config.sessionTtlMs
    const sealed = yield* keys.seal(token, tokenAad(idHash, user.id))
    // Now and then (one sign-in in 16), ended sessions are cleared away; a failure there stops no one.
    if ((yield* keys.random(1)).charCodeAt(0) % 16 === 0) yield* Effect.ignore(store.deleteExpired(now))
    yield* store.put(
      new StoredSession({ idHash, userId: user.id, login: user.login, token: sealed, createdAt: now, expiresAt })
    )
    const session: Session = {
      idHash,
      userId: user.id,
      login: user.login,
      token,
      expiresAt,
      csrf: yield* csrfOf(id)
    }
    return {
      session,
      cookie: { name: cookieName, value: `${id}.${yield* keys.sign("session", id)}`, maxAgeSeconds: ttlSeconds }
    }
  })

  const current = Effect.fn("Sessions.current")(function*(cookie: string | undefined) {
    const [id, tag, extra] = (cookie ?? "").split(".")
    if (id === undefined || tag === undefined || extra !== undefined || id.length < 32) return Option.none<Session>()
    if (!(yield* keys.verify("session", id, tag))) return Option.none<Session>()
    const idHash = yield* keys.digest(id)
    const stored = yield* store.get(idHash)
    if (Option.isNone(stored) || stored.value.expiresAt <= (yield* Clock.currentTimeMillis)) {
      return Option.none<Session>()
    }
    const row = stored.value
    const token = yield* keys.open(row.token, tokenAad(idHash, row.userId))
    if (Option.isNone(token)) return Option.none<Session>()
    return Option.some<Session>({
      idHash,
      userId: row.userId,
      login: row.login,
      token: token.value,
      expiresAt: row.expiresAt,
      csrf: yield* csrfOf(id)
    })
  })

  const clear = (name: string): Cookie => ({ name, value: "", maxAgeSeconds: 0 })

  const end = Effect.fn("Sessions.end")(function*(session: Session) {
    yield* store.delete(session.idHash)
    return clear(cookieName)
  })

  const beginOAuth = Effect.fn("Sessions.beginOAuth")(function*(returnTo: string) {
    const state = yield* keys.random(24)
    const expiresAt = (yield* Clock.currentTimeMillis) + OAUTH_TTL_MS
    const body = `${state}.${expiresAt}.${Base64Url.encode(safeReturn(returnTo))}`
    const tag = yield* keys.sign("oauth-state", body)
    return {
      state,
      cookie: { name: oauthCookieName, value: `${body}.${tag}`, maxAgeSeconds: OAUTH_TTL_MS / 1000 }
    }
  })

  const finishOAuth = Effect.fn("Sessions.finishOAuth")(
    function*(cookie: string | undefined, state: string | undefined) {
      const parts = (cookie ?? "").split(".")
      if (parts.length !== 4 || state === undefined) return Option.none<string>()
      const [remembered, expiresAt, returnTo, tag] = parts as [string, string, string, string]
      if (!(yield* keys.verify("oauth-state", `${remembered}.${expiresAt}.${returnTo}`, tag))) {
        return Option.none<string>()
      }
      if (Number(expiresAt) <= (yield* Clock.currentTimeMillis) || !sameText(remembered, state)) {
        return Option.none<string>()
      }
      const path = Base64Url.decodeString(returnTo)
      return Option.some(safeReturn(path._tag === "Success" ? path.success : undefined))
    }
  )

  return Sessions.of({
    cookieName,
    oauthCookieName,
    start,
    current,
    end,
    checkCsrf: (session, presented) => presented !== undefined && sameText(session.csrf, presented),
    beginOAuth,
    finishOAuth,
    clear
  })
})

/** @category layers */
export const layer: Layer.Layer<Sessions, never, WebConfig | SessionKeys | SessionStore> = Layer.effect(Sessions, make)

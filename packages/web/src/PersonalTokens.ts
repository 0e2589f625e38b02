/**
 * Personal Porter tokens: a signed-in user makes one on the tokens page (`/app/tokens`) for an MCP client (`@porter/mcp`)
 * and sends it as `Authorization: Bearer porter_pat_…`. A token acts for its user only, with the user's own GitHub
 * permissions, read again from GitHub on use (`Access`); it never grants more than the user has.
 *
 * - The token is `porter_pat_` and 43 base64url characters (256 random bits): shown once, when it is made; storage
 *   keeps its SHA-256 (`TokenStore`), so the table alone lets nobody in.
 * - It carries the GitHub sign-in it was made from: the user's GitHub token, sealed with the session keys and bound to
 *   the row (the MCP server posts the user's commands with it, and asks GitHub what the user may do).
 * - Each time the user signs in to the web app, their live tokens take that sign-in (`adopt`): an expiring GitHub
 *   token is renewed that way.
 * - It ends after the days chosen (1 to 365; 30 by default), when revoked, or when GitHub stops accepting the sign-in
 *   it carries (until the user signs in again). At most `MAX_PER_USER` per user.
 *
 * Cannot: refresh the GitHub token it carries by itself (with an App whose user tokens expire after 8 hours, the
 * tokens stop working 8 hours after the user's last sign-in).
 */
import type { Errors } from "@porter/core"
import { Clock, Context, Effect, Layer, Option, Redacted, Schema } from "effect"
import { SessionKeys } from "./SessionKeys.ts"
import type { Session } from "./Sessions.ts"
import { StoredToken, TokenStore } from "./TokenStore.ts"

/** How every personal token begins. */
export const PREFIX = "porter_pat_"
/** The live tokens one user may have. */
export const MAX_PER_USER = 20
/** A new token's lifetime unless the user picks another. */
export const DEFAULT_DAYS = 30
/** The longest lifetime a token may be given. */
export const MAX_DAYS = 365
const DAY_MS = 24 * 60 * 60_000

/** What a name may be: 1 to 60 printable characters. */
export const TokenName = Schema.String.pipe(
  Schema.check(Schema.isPattern(/^[^\u0000-\u001f\u007f]{1,60}$/, { expected: "1 to 60 printable characters" }))
)

/** A token's owner, as a verified bearer shows them. */
export interface TokenUser {
  readonly tokenId: string
  readonly userId: number
  readonly login: string
  /** The GitHub sign-in the token was made from (user-to-server token): server side only. */
  readonly githubToken: Redacted.Redacted<string>
  readonly expiresAt: number
}

/** The user has as many tokens as they may. */
export class TooManyTokens extends Schema.TaggedError<TooManyTokens>()("TooManyTokens", { limit: Schema.Int }) {}

/** A token just made: the secret (shown once) and its stored record. */
export interface Made {
  /** The token: show it once. */
  readonly token: Redacted.Redacted<string>
  readonly stored: StoredToken
}

/** Making, listing, revoking and checking users' personal tokens. */
export class PersonalTokens extends Context.Service<PersonalTokens, {
  /** A new token for the session's user, carrying the session's GitHub sign-in. */
  readonly create: (
    session: Session,
    options: { readonly name: string; readonly days?: number | undefined }
  ) => Effect.Effect<Made, TooManyTokens | Errors.StoreError>
  readonly list: (userId: number) => Effect.Effect<ReadonlyArray<StoredToken>, Errors.StoreError>
  /** `true` when the user had that token. */
  readonly revoke: (userId: number, id: string) => Effect.Effect<boolean, Errors.StoreError>
  /** The user's live tokens act with this session's GitHub sign-in from now on; how many. */
  readonly adopt: (session: Session) => Effect.Effect<number, Errors.StoreError>
  /** The user a bearer token stands for, if it is one of ours, stored, unexpired and readable. */
  readonly verify: (bearer: string) => Effect.Effect<Option.Option<TokenUser>, Errors.StoreError>
}>()("@porter/web/PersonalTokens") {}

const aadOf = (id: string, userId: number) => `porter/web/personal-token/${id}/${userId}`
const SHAPE = /^porter_pat_[A-Za-z0-9_-]{43}$/

/** `PersonalTokens` on a `TokenStore` and the session keys. */
export const make = Effect.gen(function*() {
  const keys = yield* SessionKeys
  const store = yield* TokenStore

  const create = Effect.fn("PersonalTokens.create")(function*(
    session: Session,
    options: { readonly name: string; readonly days?: number | undefined }
  ) {
    const now = yield* Clock.currentTimeMillis
    // Now and then (one token in 8), ended tokens are cleared away; a failure there stops no one.
    if ((yield* keys.random(1)).charCodeAt(0) % 8 === 0) yield* Effect.ignore(store.deleteExpired(now))
    const mine = (yield* store.listByUser(session.userId)).filter((token) => token.expiresAt > now)
    if (mine.length >= MAX_PER_USER) return yield* new TooManyTokens({ limit: MAX_PER_USER })
    const days = Math.min(MAX_DAYS, Math.max(1, Math.floor(options.days ?? DEFAULT_DAYS)))
    const secret = `${PREFIX}${yield* keys.random(32)}`
    const id = (yield* keys.random(9)).replace(/[-_]/g, "x")
    const stored = new StoredToken({
      id,
      hash: yield* keys.digest(secret),
      userId: session.userId,
      login: session.login,
      name: options.name.trim(),
      githubToken: yield* keys.seal(session.token, aadOf(id, session.userId)),
      createdAt: now,
      expiresAt: now + days * DAY_MS
    })
    yield* store.put(stored)
    return { token: Redacted.make(secret), stored }
  })

  const verify = Effect.fn("PersonalTokens.verify")(function*(bearer: string) {
    if (!SHAPE.test(bearer)) return Option.none<TokenUser>()
    const found = yield* store.findByHash(yield* keys.digest(bearer))
    if (Option.isNone(found) || found.value.expiresAt <= (yield* Clock.currentTimeMillis)) {
      return Option.none<TokenUser>()
    }
    const row = found.value
    const github = yield* keys.open(row.githubToken, aadOf(row.id, row.userId))
    if (Option.isNone(github)) return Option.none<TokenUser>()
    return Option.some<TokenUser>({
      tokenId: row.id,
      userId: row.userId,
      login: row.login,
      githubToken: github.value,
      expiresAt: row.expiresAt
    })
  })

  const adopt = Effect.fn("PersonalTokens.adopt")(function*(session: Session) {
    const now = yield* Clock.currentTimeMillis
    const live = (yield* store.listByUser(session.userId)).filter((token) => token.expiresAt > now)
    yield* Effect.forEach(live, (token) =>
      Effect.flatMap(
        keys.seal(session.token, aadOf(token.id, token.userId)),
        (sealed) => store.put(new StoredToken({ ...token, login: session.login, githubToken: sealed }))
      ), { discard: true })
    return live.length
  })

  return PersonalTokens.of({
    create,
    adopt,
    list: (userId) => store.listByUser(userId),
    revoke: (userId, id) => store.revoke(userId, id),
    verify
  })
})

/** @category layers */
export const layer: Layer.Layer<PersonalTokens, never, SessionKeys | TokenStore> = Layer.effect(PersonalTokens, make)

/**
 * Identifiers. A `TaskId` is `task_` followed by 26 Crockford base32 characters: 10 of time
 * (milliseconds) and 16 of randomness, so ids sort by creation time like ULIDs.
 *
 * Random bytes come from `effect/crypto`'s `SecureRandom` and base64url from `effect/encoding`.
 * The base32 stays here: `effect/encoding` has none, and `SecureRandom`'s `ulid` (same layout,
 * upper case) is monotonic, keeping the last timestamp when the clock moves back, which would
 * change the time part of ids made under a `TestClock`.
 */
import { Clock, Effect, Schema } from "effect"
import { SecureRandom } from "effect/crypto"
import { Base64Url } from "effect/encoding"

const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"

/** `task_` + 26 lower-case Crockford base32 characters (time, then randomness). */
export const TaskId = Schema.String.pipe(
  Schema.check(Schema.isPattern(/^task_[0-9a-hjkmnp-tv-z]{26}$/)),
  Schema.brand("TaskId")
)
export type TaskId = typeof TaskId.Type

/** GitHub's `X-GitHub-Delivery` (a GUID), or any unique id of an incoming event. */
export const DeliveryId = Schema.String.pipe(
  Schema.check(Schema.isMinLength(1), Schema.isMaxLength(128)),
  Schema.brand("DeliveryId")
)
export type DeliveryId = typeof DeliveryId.Type

/** A machine as named by its provisioner (Fly machine id, Docker container id, pid-based id…). */
export const MachineId = Schema.String.pipe(Schema.check(Schema.isMinLength(1)), Schema.brand("MachineId"))
export type MachineId = typeof MachineId.Type

const encodeTime = (millis: number): string => {
  let out = ""
  let rest = Math.floor(millis)
  for (let i = 0; i < 10; i++) {
    out = ALPHABET[rest % 32] + out
    rest = Math.floor(rest / 32)
  }
  return out
}

/** Cryptographically random bytes (`getRandomValues`: Workers, Node, browsers). */
export const randomBytes = (length: number): Uint8Array => SecureRandom.randomBytesUnsafe(length)

const encodeRandom = (length: number): string => {
  let out = ""
  for (const byte of randomBytes(length)) out += ALPHABET[byte & 31]
  return out
}

/** A new, time-sortable task id; time comes from the `Clock`, so tests control it. */
export const makeTaskId: Effect.Effect<TaskId> = Effect.map(
  Clock.currentTimeMillis,
  (now) => `task_${encodeTime(now)}${encodeRandom(16)}` as TaskId
)

/** The random tail of a task id: short, unique enough for branch names (`porter/12-k3v9q8wz`). */
export const shortTaskId = (id: TaskId): string => id.slice(-8)

/** Random url-safe token text of `bytes` random bytes. */
export const randomToken = (bytes = 32): string => toBase64Url(randomBytes(bytes))

/** Base64url text of `bytes`, without padding. */
export const toBase64Url = (bytes: Uint8Array): string => Base64Url.encode(bytes)

const encoder = new TextEncoder()

/**
 * A task id derived from its delivery (SHA-256 of the delivery id and `salt`, after the receive time): retrying a
 * delivery can never create a second task.
 */
export const taskIdFor = (deliveryId: DeliveryId, receivedAt: number, salt = ""): Effect.Effect<TaskId> =>
  // WebCrypto's digest of bytes cannot fail.
  Effect.promise(() => crypto.subtle.digest("SHA-256", encoder.encode(`${deliveryId}:${salt}`))).pipe(
    Effect.map((digest) => {
      const bytes = new Uint8Array(digest)
      let random = ""
      for (let i = 0; i < 16; i++) random += ALPHABET[bytes[i]! & 31]
      return `task_${encodeTime(receivedAt)}${random}` as TaskId
    })
  )

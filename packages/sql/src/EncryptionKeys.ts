/**
 * The master keys of the encrypted `SecretStore`: one current key (encrypts and decrypts) and any
 * number of older keys (decrypt only, until `rotate` has moved every row to the current key).
 * Keys are `effect/crypto` `Aead` keys for AES-256-GCM (WebCrypto: workerd, Node, browsers); the
 * store's `Aead` service imports each one once, on first use.
 *
 * Configuration (Worker secrets, or the Node host's environment):
 * - `PORTER_ENCRYPTION_KEY`: base64 of 32 random bytes (`openssl rand -base64 32`). Required.
 * - `PORTER_ENCRYPTION_KEY_ID`: the id stored next to each ciphertext; default `k1`.
 * - `PORTER_ENCRYPTION_OLD_KEYS`: `id:base64,id:base64` — retired keys still able to decrypt.
 *
 * Cannot: recover a secret whose key was dropped from the configuration (it fails with
 * `SecretDecryptionFailed` naming the key id; set the secret again).
 */
import { Config, Effect, Option, Redacted, Result, Schema } from "effect"
import { Aead, SecureRandom } from "effect/crypto"
import { Base64, Base64Url } from "effect/encoding"

/** An AES-256-GCM key. */
export type Key = Aead.Key<Aead.AesGcm>

/** A key configuration that cannot work: the message names the variable, never the key. */
export class EncryptionKeyError extends Schema.TaggedError<EncryptionKeyError>()("EncryptionKeyError", {
  message: Schema.String
}) {}

/** One configured key: its id and its text. */
export interface KeyMaterial {
  readonly id: string
  /** Base64 (standard or url-safe) of exactly 32 bytes. */
  readonly key: Redacted.Redacted<string>
}

/** The current key and the retired ones. */
export interface EncryptionKeysOptions {
  /** Encrypts every write; also decrypts. */
  readonly current: KeyMaterial
  /** Decrypt only. */
  readonly old?: ReadonlyArray<KeyMaterial> | undefined
}

/** The keys by id, ready for `Aead`. */
export interface EncryptionKeys {
  readonly currentId: string
  readonly current: Key
  /** The current id first, then the retired ones. */
  readonly ids: ReadonlyArray<string>
  readonly get: (id: string) => Key | undefined
}

const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/
const KEY_BYTES = 32

const decodeKey = (material: KeyMaterial, variable: string): Result.Result<Uint8Array, EncryptionKeyError> => {
  // Standard or url-safe alphabet, padded or not: Base64Url reads both paddings.
  const bytes = Base64Url.decode(Redacted.value(material.key).trim().replaceAll("+", "-").replaceAll("/", "_"))
  if (Result.isFailure(bytes)) {
    return Result.fail(new EncryptionKeyError({ message: `${variable} (key ${material.id}) is not valid base64` }))
  }
  if (bytes.success.length !== KEY_BYTES) {
    return Result.fail(
      new EncryptionKeyError({
        message: `${variable} (key ${material.id}) must be the base64 of ${KEY_BYTES} random bytes, ` +
          `got ${bytes.success.length} bytes; generate one with \`openssl rand -base64 32\``
      })
    )
  }
  return Result.succeed(bytes.success)
}

const aesKey = (bytes: Uint8Array, variable: string, id: string) =>
  Effect.mapError(
    Aead.key(Aead.aes256Gcm, bytes),
    (error) => new EncryptionKeyError({ message: `${variable} (key ${id}): ${error.reason.message}` })
  )

/** Validates and imports the keys; fails with a message naming the misconfigured variable. */
export const make = Effect.fn("EncryptionKeys.make")(function*(options: EncryptionKeysOptions) {
  const all = [
    { material: options.current, variable: "PORTER_ENCRYPTION_KEY" },
    ...(options.old ?? []).map((material) => ({ material, variable: "PORTER_ENCRYPTION_OLD_KEYS" }))
  ]
  const keys = new Map<string, Key>()
  for (const { material, variable } of all) {
    if (!KEY_ID.test(material.id)) {
      return yield* new EncryptionKeyError({
        message: `key id ${JSON.stringify(material.id.slice(0, 64))} in ${variable} must match ${KEY_ID.source}`
      })
    }
    if (keys.has(material.id)) {
      return yield* new EncryptionKeyError({ message: `key id ${material.id} is configured twice` })
    }
    const bytes = decodeKey(material, variable)
    if (Result.isFailure(bytes)) return yield* bytes.failure
    keys.set(material.id, yield* aesKey(bytes.success, variable, material.id))
  }
  const current = keys.get(options.current.id)!
  return {
    currentId: options.current.id,
    current,
    ids: [...keys.keys()],
    get: (id: string) => keys.get(id)
  } satisfies EncryptionKeys
})

/** Parses `PORTER_ENCRYPTION_OLD_KEYS`: `id:base64,id:base64` (whitespace allowed around items). */
export const parseOldKeys = (
  text: Redacted.Redacted<string>
): Result.Result<Array<KeyMaterial>, EncryptionKeyError> => {
  const items = Redacted.value(text).split(",").map((item) => item.trim()).filter((item) => item.length > 0)
  const parsed: Array<KeyMaterial> = []
  for (const [index, item] of items.entries()) {
    const at = item.indexOf(":")
    if (at <= 0) {
      return Result.fail(
        new EncryptionKeyError({ message: `PORTER_ENCRYPTION_OLD_KEYS item ${index + 1} is not \`id:base64\`` })
      )
    }
    parsed.push({ id: item.slice(0, at), key: Redacted.make(item.slice(at + 1)) })
  }
  return Result.succeed(parsed)
}

/** The raw variables: `PORTER_ENCRYPTION_KEY`, `PORTER_ENCRYPTION_KEY_ID`, `PORTER_ENCRYPTION_OLD_KEYS`. */
export const config = Config.all({
  key: Config.Redacted("PORTER_ENCRYPTION_KEY"),
  id: Config.String("PORTER_ENCRYPTION_KEY_ID").pipe(Config.withDefault("k1")),
  old: Config.option(Config.Redacted("PORTER_ENCRYPTION_OLD_KEYS"))
})

/** Reads the configuration and imports the keys; read it when a layer is built, not per request. */
export const fromConfig: Effect.Effect<EncryptionKeys, Config.ConfigError | EncryptionKeyError> = Effect.gen(
  function*() {
    const { id, key, old } = yield* config
    const retired = Option.isSome(old) ? yield* Effect.fromResult(parseOldKeys(old.value)) : []
    return yield* make({ current: { id, key }, old: retired })
  }
)

/** A fresh key for `PORTER_ENCRYPTION_KEY` (base64 of 32 random bytes). */
export const generate = (): string => Base64.encode(SecureRandom.randomBytesUnsafe(KEY_BYTES))

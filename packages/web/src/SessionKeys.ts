/**
 * The keys behind the web app's cookies and stored tokens, derived from `PORTER_SESSION_SECRET` with HKDF-SHA256
 * (one `info` per use, so a tag of one kind is never valid as another):
 *
 * - `sign` / `verify`: HMAC-SHA256 tags (base64url) of text, bound to a purpose (`session`, `csrf`, `oauth-state`);
 * - `seal` / `open`: AES-256-GCM of a value with associated data (the users' GitHub tokens at rest);
 * - `random`: base64url of secure random bytes; `digest`: SHA-256 hex (session ids are stored hashed, keys are shown
 *   by fingerprint).
 *
 * All on `effect/crypto` over WebCrypto (workerd, Node). Keys are derived once, when the layer is built.
 */
import { Context, Effect, Layer, Option, Redacted, Result } from "effect"
import { Aead, Digest, Kdf, Mac, SecureRandom } from "effect/crypto"
import { Base64Url } from "effect/encoding"
import { WebConfig } from "./WebConfig.ts"

/** What a signed tag is for: a tag of one purpose is never valid for another. */
export type Purpose = "session" | "csrf" | "oauth-state"

/** The keys behind cookies and stored tokens: tags, sealing, random values, digests. */
export class SessionKeys extends Context.Service<SessionKeys, {
  readonly sign: (purpose: Purpose, text: string) => Effect.Effect<string>
  /** Constant-time check of a tag made by `sign`. */
  readonly verify: (purpose: Purpose, text: string, tag: string) => Effect.Effect<boolean>
  /** `iv.ciphertext` (base64url), bound to `aad`. */
  readonly seal: (value: Redacted.Redacted<string>, aad: string) => Effect.Effect<string>
  /** The value, or `None` when the text was not sealed with this secret and `aad`. */
  readonly open: (sealed: string, aad: string) => Effect.Effect<Option.Option<Redacted.Redacted<string>>>
  readonly random: (bytes?: number) => Effect.Effect<string>
  /** SHA-256 of the text, lower-case hex. */
  readonly digest: (text: string) => Effect.Effect<string>
}>()("@porter/web/SessionKeys") {}

const encoder = new TextEncoder()
const decoder = new TextDecoder("utf-8", { fatal: true })
const IV_BYTES = 12

const CryptoLive = Layer.mergeAll(Aead.layerWebCrypto, Mac.layerWebCrypto, Kdf.layerWebCrypto, Digest.layerWebCrypto)
  .pipe(Layer.provideMerge(SecureRandom.layerWebCrypto))

/** Keys from `secret`; a platform that refuses WebCrypto's HKDF or AES-GCM is a defect. */
export const make = (secret: Redacted.Redacted<string>): Effect.Effect<SessionKeys["Service"]> =>
  Effect.gen(function*() {
    const aead = yield* Aead.Aead
    const mac = yield* Mac.Mac
    const kdf = yield* Kdf.Kdf
    const digests = yield* Digest.Digest
    const random = yield* SecureRandom.SecureRandom
    const material = encoder.encode(Redacted.value(secret).trim())
    const derive = (info: string) =>
      kdf.derive(Kdf.hkdfSha256, material, { salt: new Uint8Array(0), info: encoder.encode(info), length: 32 })
    const macKey = yield* Effect.flatMap(derive("porter/web/mac/v1"), (bytes) => Mac.key(Mac.hmacSha256, bytes))
    const aeadKey = yield* Effect.flatMap(derive("porter/web/token/v1"), (bytes) => Aead.key(Aead.aes256Gcm, bytes))

    const tagOf = (purpose: Purpose, text: string) => mac.sign(macKey, encoder.encode(`${purpose}\u0000${text}`))

    return SessionKeys.of({
      sign: (purpose, text) => Effect.orDie(Effect.map(tagOf(purpose, text), Base64Url.encode)),
      // The tag's text is compared, not its decoded bytes: base64url has spare bits, so two texts can decode alike.
      verify: (purpose, text, tag) =>
        Effect.orDie(
          Effect.map(tagOf(purpose, text), (expected) =>
            Mac.timingSafeEqual(encoder.encode(Base64Url.encode(expected)), encoder.encode(tag)))
        ),
      seal: (value, aad) =>
        Effect.gen(function*() {
          const iv = yield* random.randomBytes(IV_BYTES)
          const sealed = yield* aead.encrypt(aeadKey, encoder.encode(Redacted.value(value)), {
            nonce: iv,
            aad: encoder.encode(aad)
          })
          return `${Base64Url.encode(iv)}.${Base64Url.encode(sealed)}`
        }).pipe(Effect.orDie),
      open: (text, aad) => {
        const [iv, body] = text.split(".")
        const ivBytes = Base64Url.decode(iv ?? "")
        const bodyBytes = Base64Url.decode(body ?? "")
        if (Result.isFailure(ivBytes) || Result.isFailure(bodyBytes)) return Effect.succeed(Option.none())
        return aead.decrypt(aeadKey, bodyBytes.success, { nonce: ivBytes.success, aad: encoder.encode(aad) }).pipe(
          Effect.flatMap((opened) => Effect.try(() => Redacted.make(decoder.decode(opened)))),
          Effect.map(Option.some),
          Effect.orElseSucceed(() => Option.none<Redacted.Redacted<string>>())
        )
      },
      random: (bytes = 32) => Effect.map(random.randomBytes(bytes), Base64Url.encode),
      digest: (text) => digests.digestHex(Digest.sha256, encoder.encode(text))
    })
  }).pipe(Effect.provide(CryptoLive), Effect.orDie)

/** @category layers */
export const layer: Layer.Layer<SessionKeys, never, WebConfig> = Layer.effect(
  SessionKeys,
  Effect.gen(function*() {
    const config = yield* WebConfig
    return yield* make(config.sessionSecret)
  })
)

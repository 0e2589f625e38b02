/**
 * GitHub App JWTs (RS256) on `effect/crypto`, so WebCrypto only (workerd, Node, browsers; no
 * `node:crypto`): `KeyFormat` reads the App's private key, PKCS#1 (`BEGIN RSA PRIVATE KEY`, what
 * GitHub hands out) or PKCS#8, and `Signature` signs with RSASSA-PKCS1-v1_5 / SHA-256.
 *
 * The PEM block is found here rather than by `KeyFormat.pem`, which wants the block alone with
 * real line breaks: keys pasted into settings arrive with escaped `\n`, newlines turned into
 * spaces or text around the block, and the label gives the clearest error. Its base64 is decoded
 * with `effect/encoding` and the DER handed to `KeyFormat.pkcs1` / `KeyFormat.pkcs8`.
 *
 * What it cannot do: encrypted keys (`BEGIN ENCRYPTED PRIVATE KEY`), non-RSA keys.
 *
 * @since 0.1.0
 */
import { Effect, Layer, Result, Schema } from "effect"
import { KeyFormat, SecureRandom, Signature } from "effect/crypto"
import { Base64, Base64Url } from "effect/encoding"

/**
 * The App's private key could not be read or imported. The message never contains the key.
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidPrivateKey extends Schema.TaggedError<InvalidPrivateKey>()("InvalidPrivateKey", {
  message: Schema.String
}) {}

const PEM = /-----BEGIN ([A-Z ]+)-----([\s\S]*?)-----END \1-----/

/**
 * The App's key, ready to sign: the decoded key and the `Signature` service that imports it once
 * and keeps the `CryptoKey`.
 *
 * @category models
 * @since 0.1.0
 */
export interface SigningKey {
  readonly privateKey: Signature.PrivateKey<Signature.RsaPkcs1v15>
  readonly signature: Signature.Signature["Service"]
}

const SignatureLive = Signature.layerWebCrypto.pipe(Layer.provide(SecureRandom.layerWebCrypto))

const invalid = (message: string) => new InvalidPrivateKey({ message })

/**
 * Reads the App's PEM key (PKCS#1 or PKCS#8; escaped `\n` as some environments store them is
 * accepted) for RS256 signing.
 *
 * @category constructors
 * @since 0.1.0
 */
export const importPrivateKey = Effect.fnUntraced(function*(pem: string) {
  const match = PEM.exec(pem.replace(/\\n/g, "\n"))
  if (!match) return yield* invalid("the GitHub App private key is not a PEM private key")
  const label = match[1]!
  if (label !== "RSA PRIVATE KEY" && label !== "PRIVATE KEY") {
    return yield* invalid(`the GitHub App private key is a ${label}; use the unencrypted RSA key GitHub gave you`)
  }
  const der = Base64.decode(match[2]!.replace(/\s+/g, ""))
  if (Result.isFailure(der)) return yield* invalid("the GitHub App private key is not valid base64 PEM")
  const format = label === "RSA PRIVATE KEY" ? KeyFormat.pkcs1 : KeyFormat.pkcs8
  const privateKey = yield* KeyFormat.decodePrivate(format, Signature.rsaPkcs1v15Sha256, der.success).pipe(
    // The reasons name what is wrong (malformed DER, another algorithm), never the key's bytes.
    Effect.mapError((error) =>
      invalid(`the GitHub App private key could not be imported (not an RSA key?): ${error.reason.message}`)
    )
  )
  const signature = yield* Effect.provide(Effect.service(Signature.Signature), SignatureLive)
  return { privateKey, signature } satisfies SigningKey
})

const segment = (value: unknown) => Base64Url.encode(JSON.stringify(value))
const encoder = new TextEncoder()

/** `iat` is backdated by this much, against clock drift (GitHub's own advice). */
export const IAT_BACKDATE_SECONDS = 60
/** GitHub refuses JWTs that live longer than 10 minutes; stay under it. */
export const LIFETIME_SECONDS = 9 * 60

/**
 * A signed App JWT and when it expires.
 *
 * @category models
 * @since 0.1.0
 */
export interface SignedJwt {
  readonly token: string
  /** Milliseconds since the epoch. */
  readonly expiresAt: number
}

/**
 * An App JWT: `iss` = App id, `iat` = now − 60 s, `exp` = now + 9 min (within GitHub's 10 min).
 *
 * @category constructors
 * @since 0.1.0
 */
export const sign = (key: SigningKey, appId: string, nowMs: number): Effect.Effect<SignedJwt> => {
  const now = Math.floor(nowMs / 1000)
  const exp = now + LIFETIME_SECONDS
  const input = `${segment({ alg: "RS256", typ: "JWT" })}.${
    segment({ iat: now - IAT_BACKDATE_SECONDS, exp, iss: /^\d+$/.test(appId) ? Number(appId) : appId })
  }`
  return key.signature.sign(key.privateKey, encoder.encode(input)).pipe(
    Effect.map((signature) => ({ token: `${input}.${Base64Url.encode(signature)}`, expiresAt: exp * 1000 })),
    // The key was imported and checked by `importPrivateKey`: a failure here is a defect.
    Effect.orDie
  )
}

/**
 * GitHub App JWTs with WebCrypto only (workerd, Node, browsers; no `node:crypto`): RS256 over the
 * App's private key. GitHub hands out PKCS#1 PEM keys (`BEGIN RSA PRIVATE KEY`), which
 * `crypto.subtle.importKey` does not read, so they are wrapped into PKCS#8 first (a few bytes of
 * ASN.1 around the same key). PKCS#8 PEM keys are taken as they are.
 *
 * What it cannot do: encrypted keys (`BEGIN ENCRYPTED PRIVATE KEY`), non-RSA keys.
 *
 * @since 0.1.0
 */
import { Effect, Schema } from "effect"
import { Ids } from "@porter/core"

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

const fromBase64 = (text: string): Uint8Array => {
  const binary = atob(text)
  const bytes = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i)
  return bytes
}

/** DER length octets. */
const derLength = (length: number): Array<number> => {
  if (length < 0x80) return [length]
  const octets: Array<number> = []
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) octets.unshift(rest & 0xff)
  return [0x80 | octets.length, ...octets]
}

const der = (tag: number, content: Uint8Array): Uint8Array => {
  const head = [tag, ...derLength(content.length)]
  const out = new Uint8Array(head.length + content.length)
  out.set(head, 0)
  out.set(content, head.length)
  return out
}

const concat = (...parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

// version 0, AlgorithmIdentifier { rsaEncryption (1.2.840.113549.1.1.1), NULL }
const VERSION_0 = Uint8Array.of(0x02, 0x01, 0x00)
const RSA_ALGORITHM = Uint8Array.of(
  0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00
)

/**
 * PKCS#1 `RSAPrivateKey` DER → PKCS#8 `PrivateKeyInfo` DER.
 *
 * @category encoding
 * @since 0.1.0
 */
export const pkcs1ToPkcs8 = (pkcs1: Uint8Array): Uint8Array =>
  der(0x30, concat(VERSION_0, RSA_ALGORITHM, der(0x04, pkcs1)))

/**
 * PEM text (PKCS#1 or PKCS#8; escaped `\n` as some environments store them is accepted) → PKCS#8 DER.
 *
 * @category encoding
 * @since 0.1.0
 */
export const pemToPkcs8 = (pem: string): Effect.Effect<Uint8Array, InvalidPrivateKey> =>
  Effect.suspend(() => {
    const match = PEM.exec(pem.replace(/\\n/g, "\n"))
    if (!match) {
      return Effect.fail(new InvalidPrivateKey({ message: "the GitHub App private key is not a PEM private key" }))
    }
    const label = match[1]!
    if (label !== "RSA PRIVATE KEY" && label !== "PRIVATE KEY") {
      return Effect.fail(
        new InvalidPrivateKey({
          message: `the GitHub App private key is a ${label}; use the unencrypted RSA key GitHub gave you`
        })
      )
    }
    let bytes: Uint8Array
    try {
      bytes = fromBase64(match[2]!.replace(/\s+/g, ""))
    } catch {
      return Effect.fail(new InvalidPrivateKey({ message: "the GitHub App private key is not valid base64 PEM" }))
    }
    return Effect.succeed(label === "RSA PRIVATE KEY" ? pkcs1ToPkcs8(bytes) : bytes)
  })

/**
 * Imports the App's key for RS256 signing.
 *
 * @category constructors
 * @since 0.1.0
 */
export const importPrivateKey = (pem: string): Effect.Effect<SigningKey, InvalidPrivateKey> =>
  Effect.flatMap(pemToPkcs8(pem), (pkcs8) =>
    Effect.tryPromise({
      try: () =>
        crypto.subtle.importKey(
          "pkcs8",
          pkcs8,
          { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
          false,
          ["sign"]
        ),
      catch: () =>
        new InvalidPrivateKey({ message: "the GitHub App private key could not be imported (not an RSA key?)" })
    }))

/** WebCrypto's key type, named without DOM or Node typings. */
export type SigningKey = Awaited<ReturnType<typeof crypto.subtle.importKey>>

const encoder = new TextEncoder()
const segment = (value: unknown) => Ids.toBase64Url(encoder.encode(JSON.stringify(value)))

/** `iat` is backdated by this much, against clock drift (GitHub's own advice). */
export const IAT_BACKDATE_SECONDS = 60
/** GitHub refuses JWTs that live longer than 10 minutes; stay under it. */
export const LIFETIME_SECONDS = 9 * 60

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
  return Effect.promise(() => crypto.subtle.sign("RSASSA-PKCS1-v1_5", key, encoder.encode(input))).pipe(
    Effect.map((signature) => ({
      token: `${input}.${Ids.toBase64Url(new Uint8Array(signature))}`,
      expiresAt: exp * 1000
    }))
  )
}

import { assert, describe, it } from "@effect/vitest"
import { AppJwt } from "@porter/github"
import { Effect } from "effect"
import { KeyFormat } from "effect/crypto"
import { createPublicKey, generateKeyPairSync, verify } from "node:crypto"

// GitHub hands out PKCS#1 keys; generate one like it (Node's crypto is only the test's oracle).
const { privateKey: pkcs1, publicKey } = generateKeyPairSync("rsa", {
  modulusLength: 2048,
  publicKeyEncoding: { type: "spki", format: "pem" },
  privateKeyEncoding: { type: "pkcs1", format: "pem" }
})
const pkcs8 = generateKeyPairSync("rsa", {
  modulusLength: 2048,
  publicKeyEncoding: { type: "spki", format: "pem" },
  privateKeyEncoding: { type: "pkcs8", format: "pem" }
})

const decodePart = (part: string) =>
  JSON.parse(Buffer.from(part, "base64url").toString("utf8")) as Record<string, unknown>

const verifies = (jwt: string, pem: string) => {
  const [header, payload, signature] = jwt.split(".")
  return verify(
    "RSA-SHA256",
    Buffer.from(`${header}.${payload}`),
    createPublicKey(pem),
    Buffer.from(signature!, "base64url")
  )
}

describe("AppJwt", () => {
  it.effect("signs an RS256 JWT with a PKCS#1 key: iat 60 s back, exp within 10 minutes, iss = App id", () =>
    Effect.gen(function*() {
      assert.match(pkcs1, /^-----BEGIN RSA PRIVATE KEY-----/)
      const key = yield* AppJwt.importPrivateKey(pkcs1)
      const now = Date.UTC(2026, 10, 23, 12, 0, 0)
      const jwt = yield* AppJwt.sign(key, "12345", now)
      const [header, payload] = jwt.token.split(".")
      assert.deepStrictEqual(decodePart(header!), { alg: "RS256", typ: "JWT" })
      const claims = decodePart(payload!)
      assert.strictEqual(claims.iss, 12345)
      assert.strictEqual(claims.iat, now / 1000 - 60)
      assert.isAtMost((claims.exp as number) - now / 1000, 600)
      assert.isAbove((claims.exp as number) - now / 1000, 60)
      assert.strictEqual(jwt.expiresAt, (claims.exp as number) * 1000)
      assert.isTrue(verifies(jwt.token, publicKey))
    }))

  it.effect("accepts PKCS#8 keys and PEM stored with escaped newlines", () =>
    Effect.gen(function*() {
      const fromPkcs8 = yield* AppJwt.importPrivateKey(pkcs8.privateKey)
      assert.isTrue(verifies((yield* AppJwt.sign(fromPkcs8, "1", Date.now())).token, pkcs8.publicKey))
      const escaped = pkcs1.trim().replaceAll("\n", "\\n")
      const fromEscaped = yield* AppJwt.importPrivateKey(escaped)
      assert.isTrue(verifies((yield* AppJwt.sign(fromEscaped, "1", Date.now())).token, publicKey))
    }))

  it.effect("a PKCS#1 key is read as the same key as its PKCS#8 form: same PKCS#8 bytes as Node's, same signature", () =>
    Effect.gen(function*() {
      const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 1024 })
      const fromPkcs1 = yield* AppJwt.importPrivateKey(privateKey.export({ type: "pkcs1", format: "pem" }) as string)
      const fromPkcs8 = yield* AppJwt.importPrivateKey(privateKey.export({ type: "pkcs8", format: "pem" }) as string)
      const node8 = privateKey.export({ type: "pkcs8", format: "der" })
      assert.deepStrictEqual(Buffer.from(yield* KeyFormat.encode(KeyFormat.pkcs8, fromPkcs1.privateKey)), node8)
      // RSASSA-PKCS1-v1_5 is deterministic: one key, one signature.
      const now = Date.UTC(2026, 10, 23, 12, 0, 0)
      assert.strictEqual(
        (yield* AppJwt.sign(fromPkcs1, "7", now)).token,
        (yield* AppJwt.sign(fromPkcs8, "7", now)).token
      )
    }))

  it.effect("refuses keys it cannot use, without echoing them", () =>
    Effect.gen(function*() {
      const cases = [
        "not a key",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----",
        "-----BEGIN RSA PRIVATE KEY-----\nbm90IGEga2V5\n-----END RSA PRIVATE KEY-----",
        "-----BEGIN RSA PRIVATE KEY-----\n%%%%\n-----END RSA PRIVATE KEY-----",
        // A valid PKCS#8 key that is not RSA.
        generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" }) as string
      ]
      for (const pem of cases) {
        const error = yield* Effect.flip(AppJwt.importPrivateKey(pem))
        assert.strictEqual(error._tag, "InvalidPrivateKey")
        assert.notInclude(error.message, "bm90IGEga2V5")
        const body = /-----\n([\s\S]*?)\n-----END/.exec(pem)?.[1]
        if (body !== undefined) assert.notInclude(error.message, body.slice(0, 16))
      }
    }))
})

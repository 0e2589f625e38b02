/** A PKCS#1 App key like the one GitHub hands out, and its public half to check JWTs with. */
import { createPublicKey, generateKeyPairSync, verify } from "node:crypto"

export const { privateKey: pkcs1Pem, publicKey: publicPem } = generateKeyPairSync("rsa", {
  modulusLength: 2048,
  publicKeyEncoding: { type: "spki", format: "pem" },
  privateKeyEncoding: { type: "pkcs1", format: "pem" }
})

/** The claims of a JWT signed by `pkcs1Pem`, or undefined when the signature does not verify. */
export const verifiedClaims = (jwt: string): Record<string, unknown> | undefined => {
  const [header, payload, signature] = jwt.split(".")
  if (header === undefined || payload === undefined || signature === undefined) return undefined
  const signed = Buffer.from(`${header}.${payload}`)
  const ok = verify("RSA-SHA256", signed, createPublicKey(publicPem), Buffer.from(signature, "base64url"))
  return ok ? JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) : undefined
}

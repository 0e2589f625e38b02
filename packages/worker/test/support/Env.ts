/** A complete Worker environment for tests that do not need the GitHub emulator: a generated App key, random secrets. */
import { generateKeyPairSync, randomBytes } from "node:crypto"

let appKey: string | undefined

/** The App key is generated once per test file (RSA key generation takes a moment). */
export const appPrivateKey = (): string => {
  appKey ??= String(
    generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs1", format: "pem" })
  )
  return appKey
}

export const ADMIN_TOKEN = "porter-test-admin-token-0123456789abcdef"

export const workerEnvFor = (urls: { readonly github: string; readonly fly?: string }): Record<string, string> => ({
  PORTER_PUBLIC_URL: "http://127.0.0.1:8787",
  GITHUB_API_URL: urls.github,
  GITHUB_GIT_URL: urls.github,
  GITHUB_APP_ID: "4242",
  GITHUB_APP_PRIVATE_KEY: appPrivateKey(),
  GITHUB_WEBHOOK_SECRET: randomBytes(20).toString("hex"),
  PORTER_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
  PORTER_ADMIN_TOKEN: ADMIN_TOKEN,
  FLY_APP_NAME: "porter-test",
  FLY_API_TOKEN: "fly-test-token",
  FLY_API_URL: urls.fly ?? "http://127.0.0.1:9/v1"
})

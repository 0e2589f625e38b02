// `porter doctor --env-file`: the Worker's checks run here on a file's variables (a deployment's own doctor is
// tested against `porter dev` in Dev.workerd.test.ts).
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { generateKeyPairSync, randomBytes } from "node:crypto"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { lines, porter } from "./support/Porter.ts"

const privateKey = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey
  .export({ type: "pkcs1", format: "pem" })
  .toString()

const good = [
  "# a complete configuration",
  "PORTER_PUBLIC_URL=https://porter.example.workers.dev",
  `GITHUB_WEBHOOK_SECRET=${randomBytes(20).toString("hex")}`,
  "GITHUB_APP_ID=12345",
  // Pasted as downloaded: a quoted multi-line value.
  `GITHUB_APP_PRIVATE_KEY="${privateKey.trim()}"`,
  `PORTER_ENCRYPTION_KEY=${randomBytes(32).toString("base64")}`,
  `PORTER_ADMIN_TOKEN=${randomBytes(32).toString("hex")}`,
  "FLY_APP_NAME=porter-runs",
  "FLY_API_TOKEN=FlyV1 fm2_local",
  ""
].join("\n")

const bad = [
  "PORTER_PUBLIC_URL=porter.example.workers.dev",
  "GITHUB_APP_ID=12345",
  "GITHUB_APP_PRIVATE_KEY=not a key",
  "PORTER_ENCRYPTION_KEY=c2hvcnQ=",
  "FLY_APP_NAME=porter-runs",
  ""
].join("\n")

describe("porter doctor --env-file", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "porter-cli-doctor-"))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  const file = (name: string, text: string) => {
    const target = path.join(dir, name)
    writeFileSync(target, text)
    return target
  }

  it.live("a complete configuration passes (offline: GitHub and Fly are not called)", () =>
    Effect.gen(function*() {
      const ran = yield* Effect.promise(() => porter(["doctor", "--env-file", file("good.vars", good), "--offline"]))
      assert.strictEqual(ran.code, 0, ran.stdout + ran.stderr)
      assert.strictEqual(ran.stderr, "")
      const out = lines(ran.stdout)
      assert.include(out[0], "good.vars here, offline")
      assert.include(out, "✓ webhook secret: set (40 characters)")
      assert.include(out, "✓ GitHub: App 12345: the private key parses and signs a JWT (not sent: offline)")
      assert.isTrue(out.some((line) => line.startsWith("✓ encryption key: key ")))
      assert.isTrue(out.some((line) => line.startsWith("- D1: ")))
      assert.notInclude(ran.stdout, "✗")
      assert.strictEqual(out.at(-1), "All checks passed.")
      // Values are never printed.
      assert.notInclude(ran.stdout, privateKey.split("\n")[1]!)
    }), 30_000)

  it.live("a broken configuration: each problem on its ✗ line, one verdict line, exit 1", () =>
    Effect.gen(function*() {
      const ran = yield* Effect.promise(() => porter(["doctor", "--env-file", file("bad.vars", bad), "--offline"]))
      assert.strictEqual(ran.code, 1, ran.stdout + ran.stderr)
      const out = lines(ran.stdout)
      const failed = out.filter((line) => line.startsWith("✗ "))
      assert.isTrue(failed.some((line) => line.startsWith("✗ webhook secret: GITHUB_WEBHOOK_SECRET is not set")))
      assert.isTrue(failed.some((line) => line.startsWith("✗ public URL: PORTER_PUBLIC_URL is not an absolute URL")))
      assert.isTrue(failed.some((line) => line.startsWith("✗ GitHub: ")))
      assert.isTrue(failed.some((line) => line.startsWith("✗ encryption key: ")))
      assert.isTrue(failed.some((line) => line.startsWith("✗ admin token: PORTER_ADMIN_TOKEN is not set")))
      assert.deepStrictEqual(lines(ran.stderr), [
        `porter: ${failed.length} checks failed: fix the lines marked ✗ above, then run porter doctor again`
      ])
    }), 30_000)

  it.live("a malformed or missing file is one line", () =>
    Effect.gen(function*() {
      const malformed = file("broken.vars", "A=1\nnonsense\n")
      const ran = yield* Effect.promise(() => porter(["doctor", "--env-file", malformed]))
      assert.strictEqual(ran.code, 1)
      assert.deepStrictEqual(lines(ran.stderr), [`porter: ${malformed}:2: expected NAME=value`])
      const missing = yield* Effect.promise(() => porter(["doctor", "--env-file", path.join(dir, "nope.vars")]))
      assert.strictEqual(missing.code, 1)
      assert.deepStrictEqual(lines(missing.stderr), [`porter: ${path.join(dir, "nope.vars")} does not exist`])
    }), 30_000)
})

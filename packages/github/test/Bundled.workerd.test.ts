// The package in workerd itself: bundled like a Worker (esbuild, wrangler's conditions) and run by
// Miniflare. The App JWT is signed with WebCrypto from a PKCS#1 key, the installation token and a
// comment go through Octokit's fetch, and a webhook signature is verified with the WebCrypto build
// of @octokit/webhooks-methods — no `node:crypto` anywhere; a commit of a text file (inline) and a binary one (a
// base64 blob) goes through the Git Data API.
import { assert, describe, it } from "@effect/vitest"
import { sign } from "@octokit/webhooks-methods"
import { Effect } from "effect"
import * as esbuild from "esbuild"
import { convertV4MiniflareOptions, Miniflare } from "miniflare"
import { fileURLToPath } from "node:url"
import * as FakeGitHub from "./utils/FakeGitHub.ts"
import { pkcs1Pem, verifiedClaims } from "./utils/Keys.ts"

const bundle = Effect.promise(async () => {
  const result = await esbuild.build({
    entryPoints: [fileURLToPath(new URL("./fixtures/worker.ts", import.meta.url))],
    bundle: true,
    format: "esm",
    platform: "neutral",
    mainFields: ["module", "main"],
    conditions: ["@porter/source", "workerd", "worker", "browser"],
    write: false,
    logLevel: "error"
  })
  return result.outputFiles[0]!.text
})

const SECRET = "workerd-webhook-secret"

describe("in workerd", () => {
  it.live("signs an App JWT from a PKCS#1 key, mints a scoped token, comments, verifies a webhook", () =>
    Effect.gen(function*() {
      const script = yield* bundle
      assert.notMatch(script, /from\s*"node:crypto"/)
      const server = yield* FakeGitHub.start
      const claimsSeen: Array<Record<string, unknown>> = []
      server.route((r) => {
        const claims = verifiedClaims(String(r.headers.authorization).replace("Bearer ", ""))
        if (claims) claimsSeen.push(claims)
        if (FakeGitHub.is(r, "GET", "/repos/octo/app/installation")) {
          return claims ? { status: 200, body: { id: 31 } } : { status: 401, body: { message: "JWT" } }
        }
        if (FakeGitHub.is(r, "POST", "/app/installations/31/access_tokens")) {
          if (!claims) return { status: 401, body: { message: "JWT" } }
          const scoped =
            JSON.stringify((r.json as { repositories?: unknown } | undefined)?.repositories) === JSON.stringify(["app"])
          const expires_at = new Date(Date.now() + 3_600_000).toISOString()
          return { status: 201, body: { token: scoped ? "ghs_scoped" : "ghs_installation", expires_at } }
        }
        if (FakeGitHub.is(r, "POST", "/repos/octo/app/issues/3/comments")) {
          return r.headers.authorization === "Bearer ghs_installation"
            ? { status: 201, body: { id: 808 } }
            : { status: 401, body: {} }
        }
        if (FakeGitHub.is(r, "GET", `/repos/octo/app/git/commits/${"a".repeat(40)}`)) {
          return { status: 200, body: { tree: { sha: "t".repeat(40) } } }
        }
        if (FakeGitHub.is(r, "POST", "/repos/octo/app/git/blobs")) return { status: 201, body: { sha: "b".repeat(40) } }
        if (FakeGitHub.is(r, "POST", "/repos/octo/app/git/trees")) return { status: 201, body: { sha: "e".repeat(40) } }
        if (FakeGitHub.is(r, "POST", "/repos/octo/app/git/commits")) {
          return { status: 201, body: { sha: "c".repeat(40) } }
        }
        return undefined
      })
      const miniflare = yield* Effect.acquireRelease(
        Effect.sync(() =>
          new Miniflare(convertV4MiniflareOptions({
            modules: true,
            script,
            compatibilityDate: "2026-01-01",
            bindings: {
              GITHUB_API_URL: server.url,
              GITHUB_APP_ID: "9001",
              GITHUB_APP_PRIVATE_KEY: pkcs1Pem,
              GITHUB_WEBHOOK_SECRET: SECRET
            }
          }))
        ),
        (mf) => Effect.promise(() => mf.dispose())
      )
      const signedBody = JSON.stringify({ zen: "Speak like a human." })
      const response = yield* Effect.promise(async () => {
        const res = await miniflare.dispatchFetch("http://worker.test/", {
          method: "POST",
          body: JSON.stringify({
            owner: "octo",
            name: "app",
            issue: 3,
            signedBody,
            signature: await sign(SECRET, signedBody)
          })
        })
        return { status: res.status, body: await res.json() as Record<string, unknown> }
      })
      assert.strictEqual(response.status, 200, JSON.stringify(response.body))
      assert.strictEqual(response.body.machineToken, "ghs_scoped")
      assert.strictEqual(response.body.commentId, 808)
      assert.strictEqual(response.body.verified, "Ignored", "a correctly signed ping verifies in workerd")
      assert.strictEqual(response.body.tampered, "WebhookUnauthorized")
      assert.strictEqual(verifiedClaims(String(response.body.jwt))?.iss, 9001)
      assert.isAtLeast(claimsSeen.length, 3)
      assert.deepStrictEqual(response.body.commits, ["c".repeat(40)])
      const body = (method: string, path: string) => server.requests.find((r) => FakeGitHub.is(r, method, path))?.json
      assert.deepStrictEqual(body("POST", "/repos/octo/app/git/blobs"), { content: "AP8B", encoding: "base64" })
      assert.deepStrictEqual(body("POST", "/repos/octo/app/git/trees"), {
        base_tree: "t".repeat(40),
        tree: [
          { path: "t.txt", mode: "100644", type: "blob", content: "héllo\n" },
          { path: "b.bin", mode: "100644", type: "blob", sha: "b".repeat(40) }
        ]
      })
    }))
})

import { assert, describe, it } from "@effect/vitest"
import { Repo } from "@porter/core"
import { RepoTokens } from "@porter/core"
import { GitHubAuth, GitHubClient, GitHubRepoTokens } from "@porter/github"
import { ConfigProvider, Effect, Exit, Layer, Redacted } from "effect"
import { TestClock } from "effect/testing"
import * as FakeGitHub from "./utils/FakeGitHub.ts"
import { pkcs1Pem, verifiedClaims } from "./utils/Keys.ts"

const T0 = Date.UTC(2026, 10, 23, 12, 0, 0)
const repo = new Repo.RepoRef({ owner: "octo", name: "app" })
const other = new Repo.RepoRef({ owner: "octo", name: "other" })

const signedByApp = (r: FakeGitHub.Recorded) => verifiedClaims(String(r.headers.authorization).replace("Bearer ", ""))

/** A fake GitHub App backend: installation 77 for `octo/*`; tokens expire an hour after `clock()`. */
const appBackend = (server: FakeGitHub.FakeGitHub, clock: () => number) => {
  let minted = 0
  server.route((r) => {
    const match = /^\/repos\/([^/]+)\/([^/]+)\/installation$/.exec(r.url)
    if (r.method !== "GET" || !match) return undefined
    if (!signedByApp(r)) return { status: 401, body: { message: "bad JWT" } }
    return match[1] === "octo"
      ? { status: 200, body: { id: 77, account: { login: "octo" } } }
      : { status: 404, body: { message: "Not Found" } }
  })
  server.route((r) => {
    if (!FakeGitHub.is(r, "POST", "/app/installations/77/access_tokens")) return undefined
    if (!signedByApp(r)) return { status: 401, body: { message: "bad JWT" } }
    minted++
    return {
      status: 201,
      body: { token: `ghs_token${minted}`, expires_at: new Date(clock() + 3_600_000).toISOString() }
    }
  })
  return { minted: () => minted }
}

const connection = (url: string) =>
  GitHubAuth.layerConnection({
    apiUrl: url,
    retry: { baseDelayMs: 1 },
    credentials: { _tag: "App", appId: "4242", privateKey: Redacted.make(pkcs1Pem) }
  })

describe("GitHubAuth: GitHub App", () => {
  it.effect("signs App JWTs (iss = App id) and finds the repository's installation once", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(T0)
      const server = yield* FakeGitHub.start
      appBackend(server, () => T0)
      const auth = yield* Effect.provide(Effect.service(GitHubAuth.GitHubAuth), connection(server.url))
      assert.strictEqual(auth.mode, "app")
      const claims = verifiedClaims(Redacted.value(yield* auth.appJwt))
      assert.strictEqual(claims?.iss, 4242)
      assert.strictEqual(claims?.iat, T0 / 1000 - 60)
      assert.strictEqual(yield* auth.installationId(repo), 77)
      assert.strictEqual(yield* auth.installationId(repo), 77)
      assert.strictEqual(server.requests.filter((r) => r.url === "/repos/octo/app/installation").length, 1)
      const missing = yield* Effect.flip(auth.installationId(new Repo.RepoRef({ owner: "elsewhere", name: "x" })))
      assert.strictEqual(missing.status, 404)
      assert.include(missing.message, "not installed on elsewhere/x")
    }))

  it.effect("reuses the App JWT while it has more than a minute to live, then signs a new one", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(T0)
      const server = yield* FakeGitHub.start
      appBackend(server, () => T0)
      const auth = yield* Effect.provide(Effect.service(GitHubAuth.GitHubAuth), connection(server.url))
      const [a, b] = yield* Effect.all([auth.appJwt, auth.appJwt], { concurrency: "unbounded" })
      assert.strictEqual(Redacted.value(a), Redacted.value(b), "concurrent callers share one signing")
      yield* TestClock.adjust("7 minutes")
      assert.strictEqual(Redacted.value(yield* auth.appJwt), Redacted.value(a))
      yield* TestClock.adjust("61 seconds")
      const renewed = Redacted.value(yield* auth.appJwt)
      assert.notStrictEqual(renewed, Redacted.value(a))
      assert.strictEqual(verifiedClaims(renewed)?.iat, T0 / 1000 + 8 * 60 + 1 - 60)
    }))

  it.effect("caches installation tokens until 5 minutes before expires_at", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(T0)
      const server = yield* FakeGitHub.start
      const backend = appBackend(server, () => T0)
      const auth = yield* Effect.provide(Effect.service(GitHubAuth.GitHubAuth), connection(server.url))
      const first = yield* auth.token(repo)
      assert.strictEqual(Redacted.value(first), "ghs_token1")
      assert.strictEqual(Redacted.value(yield* auth.token(other)), "ghs_token1", "same installation, same token")
      assert.strictEqual(Redacted.value(yield* auth.token(repo, 77)), "ghs_token1")
      yield* TestClock.adjust("54 minutes")
      assert.strictEqual(Redacted.value(yield* auth.token(repo)), "ghs_token1")
      yield* TestClock.adjust("2 minutes")
      assert.strictEqual(Redacted.value(yield* auth.token(repo)), "ghs_token2", "renewed 5 minutes before expiry")
      assert.strictEqual(backend.minted(), 2)
    }))

  it.effect("machine tokens are minted fresh for each task and scoped to its one repository", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(T0)
      const server = yield* FakeGitHub.start
      const backend = appBackend(server, () => T0)
      const tokens = yield* Effect.provide(
        Effect.service(RepoTokens.RepoTokens),
        GitHubRepoTokens.layerWithConnection.pipe(Layer.provide(connection(server.url)))
      )
      const a = yield* tokens.mint(repo, 77)
      const b = yield* tokens.mint(other)
      const c = yield* tokens.mint(repo)
      assert.deepStrictEqual([a, b, c].map(Redacted.value), ["ghs_token1", "ghs_token2", "ghs_token3"])
      assert.strictEqual(backend.minted(), 3)
      const bodies = server.requests.filter((r) => r.url.endsWith("/access_tokens")).map((r) => r.json)
      const permissions = GitHubAuth.defaultMachinePermissions
      assert.deepStrictEqual(bodies, [
        { repositories: ["app"], permissions },
        { repositories: ["other"], permissions },
        { repositories: ["app"], permissions }
      ])
    }))

  it.effect("a refused installation token is forgotten and the call made again once", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(T0)
      const server = yield* FakeGitHub.start
      appBackend(server, () => T0)
      let refusals = 1
      server.route((r) => {
        if (!FakeGitHub.is(r, "GET", "/repos/octo/app/issues/1")) return undefined
        if (r.headers.authorization === "Bearer ghs_token1" && refusals-- > 0) {
          return { status: 401, body: { message: "Bad credentials" } }
        }
        return { status: 200, body: { number: 1 } }
      })
      const response = yield* Effect.gen(function*() {
        const request = yield* GitHubAuth.repoRequest
        return yield* request(repo, undefined, "GET /repos/{owner}/{repo}/issues/{issue_number}", {
          params: { issue_number: 1 }
        })
      }).pipe(Effect.provide(connection(server.url)))
      assert.strictEqual(response.status, 200)
      const calls = server.requests.filter((r) => r.url === "/repos/octo/app/issues/1").map((r) =>
        r.headers.authorization
      )
      assert.deepStrictEqual(calls, ["Bearer ghs_token1", "Bearer ghs_token2"])
    }))

  it.effect("a failed mint is a TokenError that names no secret", () =>
    Effect.gen(function*() {
      const server = yield* FakeGitHub.start
      server.route((r) => (r.url.endsWith("/installation") ? { status: 200, body: { id: 5 } } : undefined))
      server.route(() => ({ status: 422, body: { message: "There is at least one repository that does not exist" } }))
      const tokens = yield* Effect.provide(
        Effect.service(RepoTokens.RepoTokens),
        GitHubRepoTokens.layer({
          apiUrl: server.url,
          credentials: { _tag: "App", appId: "1", privateKey: Redacted.make(pkcs1Pem) }
        })
      )
      const error = yield* Effect.flip(tokens.mint(repo))
      assert.strictEqual(error._tag, "TokenError")
      assert.include(error.message, "422")
      assert.notInclude(error.message, "PRIVATE KEY")
    }))
})

describe("GitHubAuth: personal access token", () => {
  it.effect("uses the token for every call and hands it to machines", () =>
    Effect.gen(function*() {
      const server = yield* FakeGitHub.start
      server.route(() => ({ status: 200, body: {} }))
      const layer = GitHubAuth.layerConnection({
        apiUrl: server.url,
        credentials: { _tag: "Token", token: Redacted.make("ghp_personal") }
      })
      const { auth, request } = yield* Effect.all({
        auth: Effect.service(GitHubAuth.GitHubAuth),
        request: GitHubAuth.repoRequest
      }).pipe(Effect.provide(layer))
      assert.strictEqual(auth.mode, "token")
      assert.strictEqual(Redacted.value(yield* auth.machineToken(repo)), "ghp_personal")
      yield* request(repo, 123, "GET /repos/{owner}/{repo}")
      assert.deepStrictEqual(
        server.requests.map((r) => [r.url, r.headers.authorization]),
        [["/repos/octo/app", "Bearer ghp_personal"]]
      )
      assert.strictEqual((yield* Effect.flip(auth.appJwt))._tag, "GitHubError")
    }))
})

describe("GitHubAuth: configuration", () => {
  const build = (env: Record<string, string>) =>
    Layer.build(GitHubAuth.layerConnectionConfig()).pipe(
      Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env }))),
      Effect.scoped,
      Effect.exit
    )

  it.effect("App id + key, or a token; an App id without its key, or nothing at all, fails the layer", () =>
    Effect.gen(function*() {
      assert.isTrue(Exit.isSuccess(yield* build({ GITHUB_APP_ID: "1", GITHUB_APP_PRIVATE_KEY: pkcs1Pem })))
      assert.isTrue(Exit.isSuccess(yield* build({ GITHUB_TOKEN: "ghp_x" })))
      assert.isTrue(Exit.isFailure(yield* build({ GITHUB_APP_ID: "1", GITHUB_TOKEN: "ghp_x" })), "no silent fallback")
      assert.isTrue(Exit.isFailure(yield* build({})))
      assert.isTrue(Exit.isFailure(yield* build({ GITHUB_TOKEN: " " })))
      const garbage = "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----"
      const badKey = yield* build({ GITHUB_APP_ID: "1", GITHUB_APP_PRIVATE_KEY: garbage })
      assert.isTrue(Exit.isFailure(badKey))
    }))

  it.effect("GITHUB_API_URL points the client elsewhere (GitHub Enterprise, the emulator)", () =>
    Effect.gen(function*() {
      const client = yield* Effect.service(GitHubClient.GitHubClient).pipe(
        Effect.provide(GitHubClient.layerConfig()),
        Effect.provide(
          ConfigProvider.layer(ConfigProvider.fromEnv({ env: { GITHUB_API_URL: "http://127.0.0.1:1/api/v3/" } }))
        )
      )
      assert.strictEqual(client.apiUrl, "http://127.0.0.1:1/api/v3")
      const fallback = yield* Effect.service(GitHubClient.GitHubClient).pipe(
        Effect.provide(GitHubClient.layerConfig()),
        Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env: {} })))
      )
      assert.strictEqual(fallback.apiUrl, "https://api.github.com")
    }))
})

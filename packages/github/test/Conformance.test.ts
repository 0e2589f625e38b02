// Core's Reporter and Authorizer suites against these adapters talking to the testkit GitHub
// emulator, as the GitHub App (PKCS#1 key → JWT → installation tokens) and with a personal token;
// and the App-auth path itself against the emulator.
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Repo } from "@porter/core"
import { GitHubAuth, GitHubAuthorizer, GitHubReporter } from "@porter/github"
import { AuthorizerSuite, ReporterSuite } from "@porter/testing/conformance"
import { GitHubEmulator } from "@porter/testkit"
import { Effect, Layer, Redacted } from "effect"
import * as Rest from "./utils/Rest.ts"

const emulator = await GitHubEmulator.startPromise()
afterAll(() => emulator.close())

const admin = emulator.admin
const rest = <A = unknown>(token: string, method: string, path: string, body?: unknown) =>
  Effect.runPromise(Rest.ok<A>(emulator.url, token, method, path, body))

await rest(admin.token, "POST", "/user/repos", { name: "conformance", auto_init: true })
await rest(admin.token, "POST", "/user/repos", { name: "elsewhere", auto_init: true })
const wendy = await emulator.createUser("wendy")
const rita = await emulator.createUser("rita")
const nora = await emulator.createUser("nora")
await rest(admin.token, "PUT", `/repos/${admin.login}/conformance/collaborators/wendy`, { permission: "push" })
await rest(admin.token, "PUT", `/repos/${admin.login}/conformance/collaborators/rita`, { permission: "pull" })

// The installation id as a webhook carries it (the emulator records deliveries even without a URL).
const seeded = await rest<{ number: number }>(admin.token, "POST", `/repos/${admin.login}/conformance/issues`, {
  title: "seed"
})
await rest(wendy.token, "POST", `/repos/${admin.login}/conformance/issues/${seeded.number}/comments`, { body: "hello" })
const webhookInstallationId = (await emulator.deliveries())
  .map((d) => (d.payload as { installation?: { id?: number } }).installation?.id)
  .find((id): id is number => typeof id === "number")
if (webhookInstallationId === undefined) throw new Error("the emulator's deliveries carry no installation id")

const repo = new Repo.RepoRef({ owner: admin.login, name: "conformance" })
const actor = (user: { readonly login: string; readonly id: number }) =>
  new Repo.Actor({ login: user.login, id: user.id, type: "User" })

const app: GitHubAuth.Credentials = {
  _tag: "App",
  appId: String(emulator.app.id),
  privateKey: Redacted.make(emulator.app.privateKeyPkcs1)
}
const personal: GitHubAuth.Credentials = { _tag: "Token", token: Redacted.make(admin.token) }
const connection = (credentials: GitHubAuth.Credentials): GitHubAuth.ConnectionOptions => ({
  apiUrl: emulator.url,
  credentials,
  retry: { baseDelayMs: 10 }
})

/** Reads back through the emulator's REST API, as the repository's owner. */
const inspector = Layer.succeed(
  ReporterSuite.ReporterInspector,
  ReporterSuite.ReporterInspector.of({
    freshIssue: Effect.gen(function*() {
      const issue = yield* Rest.ok<{ number: number }>(
        emulator.url,
        admin.token,
        "POST",
        `/repos/${repo.fullName}/issues`,
        {
          title: "Conformance"
        }
      )
      const comment = yield* Rest.ok<{ id: number }>(
        emulator.url,
        wendy.token,
        "POST",
        `/repos/${repo.fullName}/issues/${issue.number}/comments`,
        { body: "@porter claude please" }
      )
      return { issue: new Repo.IssueRef({ repo, number: issue.number }), triggerCommentId: comment.id }
    }),
    comments: (issue) =>
      Rest.ok<Array<{ id: number; body: string }>>(
        emulator.url,
        admin.token,
        "GET",
        `/repos/${repo.fullName}/issues/${issue.number}/comments?per_page=100`
      ).pipe(Effect.map((list) => list.map((c) => ({ id: c.id, body: c.body })))),
    reactions: (_issue, commentId) =>
      Rest.ok<Array<{ content: string }>>(
        emulator.url,
        admin.token,
        "GET",
        `/repos/${repo.fullName}/issues/comments/${commentId}/reactions`
      ).pipe(Effect.map((list) => list.map((r) => r.content))),
    labels: (issue) =>
      Rest.ok<Array<{ name: string }>>(
        emulator.url,
        admin.token,
        "GET",
        `/repos/${repo.fullName}/issues/${issue.number}/labels`
      )
        .pipe(Effect.map((list) => list.map((l) => l.name)))
  })
)

const fixtures: AuthorizerSuite.Fixtures = {
  repo,
  admin: actor(admin),
  write: actor(wendy),
  read: actor(rita),
  none: actor(nora)
}

ReporterSuite.run("GitHub App on the emulator", Layer.merge(GitHubReporter.layer(connection(app)), inspector))
ReporterSuite.run("personal token on the emulator", Layer.merge(GitHubReporter.layer(connection(personal)), inspector))
AuthorizerSuite.run("GitHub App on the emulator", GitHubAuthorizer.layer(connection(app)), fixtures)
AuthorizerSuite.run(
  "GitHub App on the emulator, installation from the webhook",
  GitHubAuthorizer.layer(connection(app)),
  {
    ...fixtures,
    installationId: webhookInstallationId
  }
)
AuthorizerSuite.run("personal token on the emulator", GitHubAuthorizer.layer(connection(personal)), fixtures)

const installationRepositories = (token: string) =>
  Rest.ok<{ repositories: Array<{ full_name: string }> }>(emulator.url, token, "GET", "/installation/repositories")

describe("GitHub App auth against the emulator", () => {
  it.live("a JWT from the PKCS#1 key gets the App, its installation and an installation token", () =>
    Effect.gen(function*() {
      assert.match(emulator.app.privateKeyPkcs1, /^-----BEGIN RSA PRIVATE KEY-----/)
      const auth = yield* Effect.service(GitHubAuth.GitHubAuth).pipe(
        Effect.provide(GitHubAuth.layerConnection(connection(app)))
      )
      const jwt = Redacted.value(yield* auth.appJwt)
      const self = yield* Rest.ok<{ id: number; slug: string }>(emulator.url, jwt, "GET", "/app")
      assert.deepStrictEqual([self.id, self.slug], [emulator.app.id, emulator.app.slug])

      const installationId = yield* auth.installationId(repo)
      const direct = yield* Rest.ok<{ id: number }>(emulator.url, jwt, "GET", `/repos/${repo.fullName}/installation`)
      assert.strictEqual(installationId, direct.id)

      const token = Redacted.value(yield* auth.token(repo))
      assert.notStrictEqual(token, jwt)
      const visible = yield* installationRepositories(token)
      assert.includeMembers(visible.repositories.map((r) => r.full_name), [repo.fullName, `${admin.login}/elsewhere`])
      assert.strictEqual(Redacted.value(yield* auth.token(repo, installationId)), token, "cached")
    }))

  it.live("the git proxy's token reads its task's repository and writes nothing", () =>
    Effect.gen(function*() {
      const auth = yield* Effect.service(GitHubAuth.GitHubAuth).pipe(
        Effect.provide(GitHubAuth.layerConnection(connection(app)))
      )
      const token = Redacted.value(yield* auth.machineToken(repo))
      // Reading the contents works; no write is granted (contents, pull requests, issues).
      const readme = yield* Rest.call(emulator.url, token, "GET", `/repos/${repo.fullName}/contents/README.md`)
      assert.strictEqual(readme.status, 200)
      const ref = yield* Rest.call(emulator.url, token, "POST", `/repos/${repo.fullName}/git/refs`, {
        ref: "refs/heads/from-the-proxy-token",
        sha: "0".repeat(40)
      })
      assert.strictEqual(ref.status, 403)
      const pull = yield* Rest.call(emulator.url, token, "POST", `/repos/${repo.fullName}/pulls`, {
        title: "nope",
        head: "main",
        base: "main"
      })
      assert.strictEqual(pull.status, 403)
      const issue = yield* Rest.call(emulator.url, token, "POST", `/repos/${repo.fullName}/issues`, {
        title: "from the machine"
      })
      assert.strictEqual(issue.status, 403)
      // Public repositories stay readable by anyone; writing is what the scope takes away.
      const other = yield* Rest.call(emulator.url, token, "POST", `/repos/${admin.login}/elsewhere/issues`, {
        title: "nope"
      })
      assert.include([403, 404], other.status)
      const visible = yield* installationRepositories(token)
      assert.deepStrictEqual(visible.repositories.map((r) => r.full_name), [repo.fullName])
      const again = Redacted.value(yield* auth.machineToken(repo))
      assert.notStrictEqual(again, token, "minted fresh for each machine")
    }))

  it.live("a JWT signed with another key is refused: GitHubError 401, no key material in the message", () =>
    Effect.gen(function*() {
      const { generateKeyPairSync } = yield* Effect.promise(() => import("node:crypto"))
      const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 })
      const stranger = privateKey.export({ type: "pkcs1", format: "pem" }).toString()
      const auth = yield* Effect.service(GitHubAuth.GitHubAuth).pipe(
        Effect.provide(GitHubAuth.layerConnection(connection({ ...app, privateKey: Redacted.make(stranger) })))
      )
      const error = yield* Effect.flip(auth.token(repo))
      assert.strictEqual(error.status, 401)
      assert.notInclude(error.message, "PRIVATE KEY")
    }))
})

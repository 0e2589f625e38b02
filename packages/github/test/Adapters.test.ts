// Reporter, IssueReader and Authorizer against a scripted server: the routes and bodies GitHub
// documents, and the edge cases (absent labels, pagination, permission levels, cache, errors).
import { assert, describe, it } from "@effect/vitest"
import { Authorizer, IssueReader, Repo, Reporter } from "@porter/core"
import { GitHubAuth, GitHubAuthorizer, GitHubIssueReader, GitHubReporter } from "@porter/github"
import { Effect, Layer, Option, Redacted } from "effect"
import * as FakeGitHub from "./utils/FakeGitHub.ts"

const repo = new Repo.RepoRef({ owner: "octo", name: "app" })
const issue = new Repo.IssueRef({ repo, number: 12 })
const TOKEN = "ghp_personalToken000"

const connection = (url: string) =>
  GitHubAuth.layerConnection({
    apiUrl: url,
    retry: { baseDelayMs: 1 },
    credentials: { _tag: "Token", token: Redacted.make(TOKEN) }
  })

const reporterOn = (server: FakeGitHub.FakeGitHub) =>
  Effect.service(Reporter.Reporter).pipe(
    Effect.provide(GitHubReporter.layerWithConnection.pipe(Layer.provide(connection(server.url))))
  )
const readerOn = (server: FakeGitHub.FakeGitHub) =>
  Effect.service(IssueReader.IssueReader).pipe(
    Effect.provide(GitHubIssueReader.layerWithConnection.pipe(Layer.provide(connection(server.url))))
  )
const authorizerOn = (server: FakeGitHub.FakeGitHub, options: GitHubAuthorizer.AuthorizerOptions = {}) =>
  Effect.service(Authorizer.Authorizer).pipe(
    Effect.provide(GitHubAuthorizer.layerWithConnection(options).pipe(Layer.provide(connection(server.url))))
  )

const user = (login: string) => new Repo.Actor({ login, id: login.length, type: "User" })

describe("GitHubReporter", () => {
  it.live("comments, edits, reacts on issue and review comments, adds and removes labels", () =>
    Effect.gen(function*() {
      const server = yield* FakeGitHub.start
      const answer = (method: string, path: string, status: number, body: unknown) =>
        server.route((r) => (FakeGitHub.is(r, method, path) ? { status, body } : undefined))
      answer("POST", "/repos/octo/app/issues/12/comments", 201, { id: 555 })
      answer("PATCH", "/repos/octo/app/issues/comments/555", 200, { id: 555 })
      answer("POST", "/repos/octo/app/issues/comments/9/reactions", 201, { id: 1, content: "eyes" })
      answer("POST", "/repos/octo/app/pulls/comments/10/reactions", 201, { id: 2, content: "eyes" })
      answer("POST", "/repos/octo/app/issues/12/labels", 200, [])
      answer("DELETE", "/repos/octo/app/issues/12/labels/porter%3Aqueued", 200, [])
      // DELETE of the absent label falls through to 404, which is fine.
      const reporter = yield* reporterOn(server)
      assert.strictEqual(yield* reporter.comment(issue, "queued"), 555)
      yield* reporter.editComment(issue, 555, "running")
      yield* reporter.react(issue, { kind: "issue_comment", commentId: 9 }, "eyes")
      yield* reporter.react(issue, { kind: "review_comment", commentId: 10 }, "eyes")
      yield* reporter.label(issue, { add: ["porter:running"], remove: ["porter:queued", "porter:failed"] })
      assert.deepStrictEqual(
        server.requests.map((r) => [r.method, r.url, r.json]),
        [
          ["POST", "/repos/octo/app/issues/12/comments", { body: "queued" }],
          ["PATCH", "/repos/octo/app/issues/comments/555", { body: "running" }],
          ["POST", "/repos/octo/app/issues/comments/9/reactions", { content: "eyes" }],
          ["POST", "/repos/octo/app/pulls/comments/10/reactions", { content: "eyes" }],
          ["POST", "/repos/octo/app/issues/12/labels", { labels: ["porter:running"] }],
          ["DELETE", "/repos/octo/app/issues/12/labels/porter%3Aqueued", undefined],
          ["DELETE", "/repos/octo/app/issues/12/labels/porter%3Afailed", undefined]
        ]
      )
      assert.isTrue(server.requests.every((r) => r.headers.authorization === `Bearer ${TOKEN}`))
    }))

  it.live("failures are ReportErrors with GitHub's status and no token", () =>
    Effect.gen(function*() {
      const server = yield* FakeGitHub.start
      server.route((r) => r.method === "PATCH" ? { status: 404, body: { message: "Not Found" } } : undefined)
      server.route(() => ({ status: 503, body: { message: "unavailable" } }))
      const reporter = yield* reporterOn(server)
      const missing = yield* Effect.flip(reporter.editComment(issue, 1, "x"))
      assert.deepStrictEqual([missing._tag, missing.status], ["ReportError", 404])
      const down = yield* Effect.flip(reporter.comment(issue, "x"))
      assert.deepStrictEqual([down._tag, down.status], ["ReportError", 503])
      assert.strictEqual(server.requests.filter((r) => r.method === "POST").length, 3, "5xx retried twice")
      for (const e of [missing, down]) assert.notInclude(`${e.message} ${JSON.stringify(e)}`, TOKEN)
      const labels = yield* Effect.flip(reporter.label(issue, { add: ["a"], remove: [] }))
      assert.strictEqual(labels.status, 503)
    }))
})

describe("GitHubIssueReader", () => {
  it.live("checkRuns by branch or suite (Checks API); checkLog follows the job log's redirect, or gives a check's output", () =>
    Effect.gen(function*() {
      const server = yield* FakeGitHub.start
      const run = (id: number, slug: string, output: Record<string, string | null>) => ({
        id,
        name: `check ${id}`,
        status: "completed",
        conclusion: "failure",
        html_url: `https://github.com/octo/app/runs/${id}`,
        head_sha: "abc123",
        check_suite: { id: 77 },
        app: { slug },
        output
      })
      const runs = {
        total_count: 2,
        check_runs: [
          run(7, "github-actions", { title: null, summary: null, text: null }),
          run(8, "coverage-bot", { title: "Coverage", summary: "fell to 71%", text: "lines: 71%" })
        ]
      }
      server.route((r): FakeGitHub.Answer | undefined =>
        FakeGitHub.is(r, "GET", "/repos/octo/app/commits/porter%2F1-abcdefgh/check-runs") ||
          FakeGitHub.is(r, "GET", "/repos/octo/app/check-suites/77/check-runs")
          ? { status: 200, body: runs }
          : FakeGitHub.is(r, "GET", "/repos/octo/app/actions/jobs/7/logs")
          ? { status: 302, headers: { location: `${server.url}/blobs/job-7.txt?sig=x` } }
          : FakeGitHub.is(r, "GET", "/blobs/job-7.txt")
          ? { status: 200, headers: { "content-type": "application/octet-stream" }, raw: "FAIL week.test.js\n" }
          : undefined
      )
      const reader = yield* readerOn(server)
      const byBranch = yield* reader.checkRuns(repo, { ref: "porter/1-abcdefgh" })
      assert.deepStrictEqual(byBranch.map((r) => [r.id, r.actionsJob, r.checkSuiteId, r.conclusion]), [
        [7, true, 77, "failure"],
        [8, false, 77, "failure"]
      ])
      assert.include(server.requests[0]!.url, "filter=latest")
      assert.strictEqual((yield* reader.checkRuns(repo, { checkSuiteId: 77 })).length, 2)
      assert.strictEqual(yield* reader.checkLog(repo, byBranch[0]!), "FAIL week.test.js\n")
      const before = server.requests.length
      assert.strictEqual(yield* reader.checkLog(repo, byBranch[1]!), "Coverage\n\nfell to 71%\n\nlines: 71%")
      assert.strictEqual(server.requests.length, before, "another App's check: its output, no call")
    }))

  it.live("file: a file's text on a ref (contents API, base64); absent, a directory or a binary file is None", () =>
    Effect.gen(function*() {
      const server = yield* FakeGitHub.start
      const yaml = "agent: codex\nprotected: [\"infra/**\"]\n"
      server.route((r) =>
        FakeGitHub.is(r, "GET", "/repos/octo/app/contents/.github/porter.yml")
          ? {
            status: 200,
            body: {
              type: "file",
              encoding: "base64",
              // GitHub wraps the base64 at 60 characters.
              content: Buffer.from(yaml).toString("base64").replace(/(.{60})/g, "$1\n")
            }
          }
          : FakeGitHub.is(r, "GET", "/repos/octo/app/contents/docs")
          ? { status: 200, body: [{ type: "file", name: "a.md" }] }
          : FakeGitHub.is(r, "GET", "/repos/octo/app/contents/logo.png")
          ? {
            status: 200,
            body: { type: "file", encoding: "base64", content: Buffer.from([0xff, 0xfe, 0x00]).toString("base64") }
          }
          : undefined
      )
      server.route(() => ({ status: 404, body: { message: "Not Found" } }))
      const reader = yield* readerOn(server)
      assert.deepStrictEqual(yield* reader.file(repo, ".github/porter.yml", "main"), Option.some(yaml))
      assert.deepStrictEqual(yield* reader.file(repo, "missing.yml", undefined), Option.none())
      assert.deepStrictEqual(yield* reader.file(repo, "docs", undefined), Option.none())
      assert.deepStrictEqual(yield* reader.file(repo, "logo.png", undefined), Option.none())
      const first = server.requests[0]!
      assert.strictEqual(first.url, "/repos/octo/app/contents/.github/porter.yml?ref=main")
      assert.notInclude(server.requests[1]!.url, "ref=")
    }))

  const comment = (i: number, login = `user${i}`, type = "User") => ({
    id: i,
    body: `comment ${i}`,
    created_at: new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString(),
    user: { login, type }
  })

  it.live("a short thread: one page, oldest first, bots and Porter's own comments flagged", () =>
    Effect.gen(function*() {
      const server = yield* FakeGitHub.start
      const porter = {
        ...comment(3, "octo-me"),
        body: "status\n<!-- porter:task {\"id\":\"t\",\"state\":\"running\"} -->"
      }
      server.route((r) =>
        FakeGitHub.is(r, "GET", "/repos/octo/app/issues/12/comments")
          ? {
            status: 200,
            body: [comment(1), comment(2, "ci", "Bot"), porter, comment(4, "porter[bot]", "Bot"), comment(5)]
          }
          : undefined
      )
      const reader = yield* readerOn(server)
      const thread = yield* reader.thread(issue, 3)
      assert.deepStrictEqual(thread.map((c) => [c.author, c.authorIsBot, c.body.split("\n")[0]]), [
        ["octo-me", true, "status"],
        ["porter[bot]", true, "comment 4"],
        ["user5", false, "comment 5"]
      ])
      assert.strictEqual(server.requests.length, 1)
      assert.include(server.requests[0]!.url, "per_page=100")
    }))

  it.live("a long thread: reads the last pages the Link header points to", () =>
    Effect.gen(function*() {
      const server = yield* FakeGitHub.start
      const all = Array.from({ length: 250 }, (_, i) => comment(i + 1))
      server.route((r) => {
        if (!FakeGitHub.is(r, "GET", "/repos/octo/app/issues/12/comments")) return undefined
        const page = Number(new URL(r.url, "http://x").searchParams.get("page") ?? "1")
        const link = `<${server.url}/repos/octo/app/issues/12/comments?per_page=100&page=${page + 1}>; rel="next", ` +
          `<${server.url}/repos/octo/app/issues/12/comments?per_page=100&page=3>; rel="last"`
        const headers: Record<string, string> = page < 3 ? { link } : {}
        return { status: 200, headers, body: all.slice((page - 1) * 100, page * 100) }
      })
      const reader = yield* readerOn(server)
      const last20 = yield* reader.thread(issue, 20)
      assert.deepStrictEqual(last20.map((c) => c.body), all.slice(-20).map((c) => c.body))
      const last80 = yield* reader.thread(issue, 80)
      assert.deepStrictEqual(last80.map((c) => c.body), all.slice(-80).map((c) => c.body))
      const pages = server.requests.map((r) => new URL(r.url, "http://x").searchParams.get("page"))
      assert.deepStrictEqual(pages, ["1", "3", "1", "3", "2"])
    }))

  it.live("pull request head and base", () =>
    Effect.gen(function*() {
      const server = yield* FakeGitHub.start
      server.route((r) =>
        FakeGitHub.is(r, "GET", "/repos/octo/app/pulls/7")
          ? {
            status: 200,
            body: {
              number: 7,
              state: "open",
              head: { ref: "feature", repo: { full_name: "fork/app" } },
              base: { ref: "main", repo: { full_name: "octo/app" } }
            }
          }
          : undefined
      )
      const reader = yield* readerOn(server)
      assert.deepStrictEqual(yield* reader.pullRequest(repo, 7), {
        headBranch: "feature",
        headRepoFullName: "fork/app",
        baseBranch: "main",
        state: "open"
      })
      const missing = yield* Effect.flip(reader.pullRequest(repo, 8))
      assert.deepStrictEqual([missing._tag, missing.status], ["ReportError", 404])
    }))
})

describe("GitHubAuthorizer", () => {
  const permissions: Record<string, { permission: string; role_name: string }> = {
    ada: { permission: "admin", role_name: "admin" },
    mae: { permission: "write", role_name: "maintain" },
    wes: { permission: "write", role_name: "write" },
    tia: { permission: "read", role_name: "triage" },
    rob: { permission: "read", role_name: "read" }
  }
  const serve = (server: FakeGitHub.FakeGitHub) =>
    server.route((r) => {
      const match = /^\/repos\/octo\/app\/collaborators\/([^/]+)\/permission$/.exec(r.url)
      if (!match) return undefined
      if (match[1] === "boom") return { status: 500, body: { message: "oops" } }
      const p = permissions[match[1]!]
      return p
        ? { status: 200, body: { ...p, user: { login: match[1] } } }
        : { status: 404, body: { message: "Not Found" } }
    })

  it.live("admin, maintain and write may run; triage, read and strangers may not, with a reason", () =>
    Effect.gen(function*() {
      const server = yield* FakeGitHub.start
      serve(server)
      const authorizer = yield* authorizerOn(server)
      const decisions = yield* Effect.forEach(
        ["ada", "mae", "wes", "tia", "rob", "zed"],
        (login) => authorizer.authorize(repo, user(login))
      )
      assert.deepStrictEqual(decisions.map((d) => [d.allowed, d.permission]), [
        [true, "admin"],
        [true, "maintain"],
        [true, "write"],
        [false, "triage"],
        [false, "read"],
        [false, "none"]
      ])
      const refused = decisions[4]!
      assert.isTrue(!refused.allowed && refused.reason === "@rob has read access")
    }))

  it.live("a burst of checks makes one call (cached); failures are AuthorizationErrors and not cached", () =>
    Effect.gen(function*() {
      const server = yield* FakeGitHub.start
      serve(server)
      const authorizer = yield* authorizerOn(server)
      yield* Effect.forEach(Array.from({ length: 10 }), () => authorizer.authorize(repo, user("wes")), {
        concurrency: 10
      })
      assert.strictEqual(server.requests.length, 1)
      const error = yield* Effect.flip(authorizer.authorize(repo, user("boom")))
      assert.strictEqual(error._tag, "AuthorizationError")
      yield* Effect.flip(authorizer.authorize(repo, user("boom")))
      assert.strictEqual(server.requests.filter((r) => r.url.includes("/boom/")).length, 6, "3 attempts each, twice")
    }))

  it.live("an expired cache entry is checked again", () =>
    Effect.gen(function*() {
      const server = yield* FakeGitHub.start
      serve(server)
      const authorizer = yield* authorizerOn(server, { cacheTtlMs: 0 })
      yield* authorizer.authorize(repo, user("wes"))
      yield* authorizer.authorize(repo, user("wes"))
      assert.strictEqual(server.requests.length, 2)
    }))

  it.live("deny list wins; a non-empty allow list refuses everyone else; lists never grant write access", () =>
    Effect.gen(function*() {
      const server = yield* FakeGitHub.start
      serve(server)
      const authorizer = yield* authorizerOn(server, { deniedUsers: ["ADA"], allowedUsers: ["ada", "Wes", "rob"] })
      const ada = yield* authorizer.authorize(repo, user("ada"))
      assert.isTrue(!ada.allowed && ada.reason.includes("deny list"))
      const mae = yield* authorizer.authorize(repo, user("mae"))
      assert.isTrue(!mae.allowed && mae.reason.includes("allow list"))
      assert.strictEqual(server.requests.length, 0, "lists are checked before GitHub is asked")
      assert.isTrue((yield* authorizer.authorize(repo, user("wes"))).allowed)
      assert.isFalse((yield* authorizer.authorize(repo, user("rob"))).allowed)
    }))
})

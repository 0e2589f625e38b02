// Core's RepoWriter suite against GitHubRepoWriter talking to the testkit GitHub emulator — as the GitHub App, with a
// personal token, and on an emulator that truncates tree listings past a few entries — read back with real git (a
// fetch of each commit over smart HTTP); then what is GitHub's alone: the request budget, verified commits, a clone
// of the branch, the pull request opened meanwhile.
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Repo } from "@porter/core"
import { RepoWriter } from "@porter/core/RepoWriter"
import { GitHubAuth, GitHubRepoWriter } from "@porter/github"
import { RepoWriterSuite } from "@porter/testing/conformance"
import { GitHubEmulator } from "@porter/testkit"
import { Effect, Layer, Option, Redacted } from "effect"
import { lstat, readFile, readlink } from "node:fs/promises"
import * as path from "node:path"
import * as FakeGitHub from "./utils/FakeGitHub.ts"
import { cloneUrl, commitFiles, git, gitOk, tempDir } from "./utils/Git.ts"
import * as Rest from "./utils/Rest.ts"

const emulator = await GitHubEmulator.startPromise()
// GitHub truncates a tree listing past 100,000 entries or 7 MB; this one past 8 entries (the seeded root holds 6).
const truncating = await GitHubEmulator.startPromise({ treeLimits: { entries: 8 } })
afterAll(() => Promise.all([emulator.close(), truncating.close()]))

type Emulator = GitHubEmulator.Emulator

const app = (emu: Emulator): GitHubAuth.Credentials => ({
  _tag: "App",
  appId: String(emu.app.id),
  privateKey: Redacted.make(emu.app.privateKeyPkcs1)
})
const personal = (emu: Emulator): GitHubAuth.Credentials => ({ _tag: "Token", token: Redacted.make(emu.admin.token) })
const connection = (emu: Emulator, credentials: GitHubAuth.Credentials, fetch?: typeof globalThis.fetch) => ({
  apiUrl: emu.url,
  credentials,
  retry: { baseDelayMs: 10 },
  ...(fetch !== undefined ? { fetch } : {})
})

let repos = 0

/** Seeds by pushing with git; reads commits by fetching them with git, pull requests through the REST API. */
const inspector = (emu: Emulator) =>
  Layer.effect(
    RepoWriterSuite.RepoWriterInspector,
    Effect.gen(function*() {
      const root = yield* tempDir
      const url = (repo: Repo.RepoRef) => cloneUrl(emu.url, repo.fullName, emu.admin.token)
      /** A bare repository holding `sha`, fetched from the emulator. */
      const fetched = Effect.fnUntraced(function*(repo: Repo.RepoRef, sha: string) {
        const dir = path.join(root, `${repo.name}.git`)
        if ((yield* git(root, "--git-dir", dir, "rev-parse", "--git-dir")).code !== 0) {
          yield* gitOk(root, "init", "--quiet", "--bare", dir)
        }
        if ((yield* git(root, "--git-dir", dir, "cat-file", "-e", `${sha}^{commit}`)).code !== 0) {
          yield* gitOk(root, "--git-dir", dir, "fetch", "--quiet", url(repo), sha)
        }
        return dir
      })
      return RepoWriterSuite.RepoWriterInspector.of({
        seed: (options) =>
          Effect.gen(function*() {
            const name = `writer-${++repos}`
            yield* Rest.ok(emu.url, emu.admin.token, "POST", "/user/repos", { name })
            const repo = new Repo.RepoRef({ owner: emu.admin.login, name })
            const work = path.join(root, `${name}-seed`)
            const head = yield* commitFiles(work, options.defaultBranch, options.files)
            yield* gitOk(work, "push", "--quiet", url(repo), options.defaultBranch)
            return { repo, head }
          }).pipe(Effect.orDie),
        file: (repo, sha, file) =>
          Effect.gen(function*() {
            const dir = yield* fetched(repo, sha)
            const listed = (yield* gitOk(root, "--git-dir", dir, "ls-tree", sha, "--", file)).trim()
            const match = /^(\d+) blob ([0-9a-f]{40})\t/.exec(listed)
            if (!match) return Option.none()
            const blob = yield* git(root, "--git-dir", dir, "cat-file", "blob", match[2]!)
            return Option.some({ mode: match[1]!, content: new Uint8Array(blob.stdout) })
          }),
        commit: (repo, sha) =>
          Effect.gen(function*() {
            const dir = yield* fetched(repo, sha)
            const text = yield* gitOk(root, "--git-dir", dir, "cat-file", "commit", sha)
            const [head, ...body] = text.split("\n\n")
            const lines = head!.split("\n")
            const author = /^author (.*) <(.*)> (\d+) ([+-]\d{4})$/.exec(lines.find((l) => l.startsWith("author "))!)!
            return {
              message: body.join("\n\n"),
              author: { name: author[1]!, email: author[2]!, date: new Date(Number(author[3]) * 1000).toISOString() },
              parents: lines.filter((l) => l.startsWith("parent ")).map((l) => l.slice("parent ".length))
            }
          }),
        pullRequests: (repo) =>
          Rest.ok<
            Array<
              {
                number: number
                title: string
                body: string
                state: string
                head: { ref: string }
                base: { ref: string }
              }
            >
          >(emu.url, emu.admin.token, "GET", `/repos/${repo.fullName}/pulls?state=all`).pipe(
            Effect.map((list) => list.map((pr) => ({ ...pr, head: pr.head.ref, base: pr.base.ref })))
          )
      })
    })
  )

const suite = (emu: Emulator, credentials: GitHubAuth.Credentials, options: GitHubRepoWriter.WriterOptions = {}) =>
  Layer.merge(GitHubRepoWriter.layer({ ...connection(emu, credentials), ...options }), inspector(emu))

RepoWriterSuite.run("GitHub App on the emulator", suite(emulator, app(emulator)))
RepoWriterSuite.run("personal token on the emulator", suite(emulator, personal(emulator)))
RepoWriterSuite.run("GitHub App, tree listings truncated", suite(truncating, app(truncating)))

const text = (value: string) => new TextEncoder().encode(value)
const author = { name: "Ada", email: "ada@example.com", date: "2026-01-02T03:04:05Z" }

// `it.live`: App JWTs need the real clock.
describe("GitHubRepoWriter on the emulator", () => {
  /** A seeded repository, and a writer that counts its requests (personal token: no token requests). */
  const counted = (emu: Emulator, options: GitHubRepoWriter.WriterOptions = {}) =>
    Effect.gen(function*() {
      const requests: Array<string> = []
      const fetch: typeof globalThis.fetch = (input, init) => {
        requests.push(`${init?.method ?? "GET"} ${new URL(String(input)).pathname}`)
        return globalThis.fetch(input, init)
      }
      const context = yield* Layer.build(
        Layer.merge(
          GitHubRepoWriter.layer({ ...connection(emu, personal(emu), fetch), ...options }),
          inspector(emu)
        )
      )
      const seeded = yield* RepoWriterSuite.RepoWriterInspector.pipe(
        Effect.flatMap((inspect) => inspect.seed({ defaultBranch: "main", files: RepoWriterSuite.SEED })),
        Effect.provide(context)
      )
      const writer = yield* RepoWriter.pipe(Effect.provide(context))
      requests.length = 0
      return { ...seeded, writer, requests }
    })

  it.live("text-only commits cost one read and two writes per commit; only a binary file adds a blob", () =>
    Effect.scoped(Effect.gen(function*() {
      const { head, repo, requests, writer } = yield* counted(emulator)
      const before = (yield* Effect.promise(() => emulator.gitDataLog())).length
      yield* writer.writeCommits(repo, head, [
        { message: "One", author, entries: [{ _tag: "write", path: "a.txt", mode: "100644", content: text("a\n") }] },
        { message: "Two", author, entries: [{ _tag: "write", path: "b.sh", mode: "100755", content: text("b\n") }] }
      ])
      assert.deepStrictEqual(requests, [
        `GET /repos/${repo.fullName}/git/commits/${head}`,
        `POST /repos/${repo.fullName}/git/trees`,
        `POST /repos/${repo.fullName}/git/commits`,
        `POST /repos/${repo.fullName}/git/trees`,
        `POST /repos/${repo.fullName}/git/commits`
      ])

      requests.length = 0
      yield* writer.writeCommits(repo, head, [{
        message: "Binary and a deletion",
        author,
        entries: [
          { _tag: "write", path: "x.bin", mode: "100644", content: Uint8Array.from([0, 255, 1]) },
          { _tag: "delete", path: "old/gone.txt" }
        ]
      }])
      assert.deepStrictEqual(requests.map((r) => r.replace(/[0-9a-f]{40}/, "<sha>")), [
        `GET /repos/${repo.fullName}/git/trees/<sha>`,
        `POST /repos/${repo.fullName}/git/blobs`,
        `POST /repos/${repo.fullName}/git/trees`,
        `POST /repos/${repo.fullName}/git/commits`
      ])
      const writes = (yield* Effect.promise(() => emulator.gitDataLog())).slice(before)
      assert.deepStrictEqual(writes.map((w) => w.operation), [
        "tree",
        "commit",
        "tree",
        "commit",
        "blob",
        "tree",
        "commit"
      ])
      // Nothing else moved: writing commits moves no branch.
      assert.isFalse(writes.some((w) => w.operation.startsWith("ref.")))
    })))

  it.live("commits made as the App are verified, and a clone of the branch holds them", () =>
    Effect.scoped(Effect.gen(function*() {
      const dir = yield* tempDir
      const context = yield* Layer.build(suite(emulator, app(emulator)))
      const { head, repo } = yield* RepoWriterSuite.RepoWriterInspector.pipe(
        Effect.flatMap((inspect) => inspect.seed({ defaultBranch: "main", files: RepoWriterSuite.SEED })),
        Effect.provide(context)
      )
      const writer = yield* RepoWriter.pipe(Effect.provide(context))
      const shas = yield* writer.writeCommits(repo, head, [
        {
          message: "Add the tool",
          author,
          entries: [
            { _tag: "write", path: "bin/tool", mode: "100755", content: text("#!/bin/sh\necho tool\n") },
            { _tag: "write", path: "tool-link", mode: "120000", content: text("bin/tool") }
          ]
        },
        { message: "Remove the seed file", author, entries: [{ _tag: "delete", path: "old/gone.txt" }] }
      ])
      yield* writer.moveBranch(repo, "porter/tool", shas[1]!, Option.none())
      const pr = yield* writer.pullRequest(repo, { head: "porter/tool", base: "main", title: "Tool", body: "" })

      const commits = yield* Effect.promise(() => emulator.pullRequestCommits(repo.owner, repo.name, pr.number))
      assert.deepStrictEqual(commits.map((c) => [c.sha, c.viaGitDataApi, c.verified]), [
        [shas[0], true, true],
        [shas[1], true, true]
      ])

      const work = path.join(dir, "clone")
      const url = cloneUrl(emulator.url, repo.fullName, emulator.admin.token)
      yield* gitOk(dir, "clone", "--quiet", "--branch", "porter/tool", url, work)
      assert.strictEqual(
        (yield* gitOk(work, "log", "--format=%an|%s", "-3")).trim(),
        "Ada|Remove the seed file\nAda|Add the tool\nSeed|Seed"
      )
      assert.strictEqual(
        yield* Effect.promise(() => readFile(path.join(work, "bin/tool"), "utf8")),
        "#!/bin/sh\necho tool\n"
      )
      assert.notStrictEqual((yield* Effect.promise(() => lstat(path.join(work, "bin/tool")))).mode & 0o111, 0)
      assert.strictEqual(yield* Effect.promise(() => readlink(path.join(work, "tool-link"))), "bin/tool")
      assert.strictEqual((yield* git(work, "cat-file", "-e", "HEAD:old/gone.txt")).code === 0, false)
    })))

  it.live("a tree too large to list within the request budget fails rather than answering part of it", () =>
    Effect.scoped(Effect.gen(function*() {
      const { head, repo, requests, writer } = yield* counted(truncating, { maxTreeRequests: 2 })
      const error = yield* Effect.flip(writer.tree(repo, head))
      assert.strictEqual(error._tag, "RepoWriteError")
      assert.match(error.message, /too large to list in 2 requests/)
      assert.strictEqual(requests.length, 2)
    })))

  it.live("with the installation id given, no installation lookup", () =>
    Effect.scoped(Effect.gen(function*() {
      const repo = new Repo.RepoRef({ owner: emulator.admin.login, name: "installation-given" })
      yield* Rest.ok(emulator.url, emulator.admin.token, "POST", "/user/repos", { name: repo.name, auto_init: true })
      const installationId = yield* GitHubAuth.GitHubAuth.pipe(
        Effect.flatMap((auth) => auth.installationId(repo)),
        Effect.provide(GitHubAuth.layerConnection(connection(emulator, app(emulator))))
      )
      const requests: Array<string> = []
      const fetch: typeof globalThis.fetch = (input, init) => {
        requests.push(new URL(String(input)).pathname)
        return globalThis.fetch(input, init)
      }
      const writer = yield* RepoWriter.pipe(
        Effect.provide(GitHubRepoWriter.layer(connection(emulator, app(emulator), fetch)))
      )
      assert.strictEqual(yield* writer.defaultBranch(repo, installationId), "main")
      assert.deepStrictEqual(requests, [
        `/app/installations/${installationId}/access_tokens`,
        `/repos/${repo.fullName}`
      ])
    })))
})

describe("GitHubRepoWriter against a scripted GitHub", () => {
  it.effect("the pull request is opened first; one that exists (422 on create) is looked up and answered", () =>
    Effect.scoped(Effect.gen(function*() {
      const github = yield* FakeGitHub.start
      github.route((request) => {
        if (FakeGitHub.is(request, "GET", "/repos/o/r/pulls")) {
          return { status: 200, body: [{ number: 7, html_url: "https://github.com/o/r/pull/7" }] }
        }
        if (FakeGitHub.is(request, "POST", "/repos/o/r/pulls")) {
          return {
            status: 422,
            body: { message: "Validation Failed", errors: [{ message: "A pull request already exists for o:b." }] }
          }
        }
        return undefined
      })
      const writer = yield* RepoWriter.pipe(
        Effect.provide(GitHubRepoWriter.layer({
          apiUrl: github.url,
          credentials: { _tag: "Token", token: Redacted.make("ghp_x") },
          retry: { times: 0 }
        }))
      )
      const pr = yield* writer.pullRequest(new Repo.RepoRef({ owner: "o", name: "r" }), {
        head: "b",
        base: "main",
        title: "t",
        body: ""
      })
      assert.deepStrictEqual(pr, { number: 7, url: "https://github.com/o/r/pull/7" })
      assert.deepStrictEqual(github.requests.map((r) => r.method), ["POST", "GET"])
      assert.include(github.requests[1]!.url, "head=o%3Ab")
    })))
})

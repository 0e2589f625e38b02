// The Git Data API (blobs, trees, commits, references) against real git: what the API writes is cloned over
// smart HTTP, what git pushes is read through the API, and the emulator records which commits were made
// through the API. Every answer is validated against GitHub's OpenAPI description (the Octokit of
// githubSupport.ts).
import { assert, layer } from "@effect/vitest"
import type { GitHubEmulator } from "@porter/testkit"
import { Effect } from "effect"
import { lstat, readFile, readlink, writeFile } from "node:fs/promises"
import * as path from "node:path"
import {
  appJwt,
  call,
  cloneUrl,
  Emu,
  EmuLayer,
  git,
  gitOk,
  installationToken,
  octokit,
  statusOf,
  tempDir
} from "./githubSupport.ts"

/** An installation token of `owner`'s installation with only `permissions`. */
const tokenWith = (
  emu: GitHubEmulator.Emulator,
  owner: string,
  permissions: Record<string, "read" | "write">
) =>
  Effect.gen(function*() {
    const app = octokit(emu, appJwt(emu.app.privateKeyPkcs1, { iss: emu.app.id }))
    const installation = yield* call(() => app.rest.apps.getUserInstallation({ username: owner }))
    const minted = yield* call(() =>
      app.rest.apps.createInstallationAccessToken({ installation_id: installation.data.id, permissions })
    )
    return minted.data.token
  })

layer(EmuLayer(), { excludeTestServices: true })("GitHub emulator Git Data API", (it) => {
  it.effect("blob, tree on a base tree, commit, ref: the branch clones over smart HTTP; App commits are verified", () =>
    Effect.scoped(Effect.gen(function*() {
      const emu = yield* Emu
      const dir = yield* tempDir
      const owner = emu.admin.login
      const admin = octokit(emu, emu.admin.token)
      yield* call(() => admin.rest.repos.createForAuthenticatedUser({ name: "data", auto_init: true }))
      const bot = octokit(emu, yield* installationToken(emu, owner, ["data"]))
      const r = { owner, repo: "data" }

      const main = yield* call(() => bot.rest.git.getRef({ ...r, ref: "heads/main" }))
      const base = yield* call(() => bot.rest.git.getCommit({ ...r, commit_sha: main.data.object.sha }))
      const blob = yield* call(() => bot.rest.git.createBlob({ ...r, content: "export const x = 1\n" }))
      assert.strictEqual(blob.status, 201)
      const tree = yield* call(() =>
        bot.rest.git.createTree({
          ...r,
          base_tree: base.data.tree.sha,
          tree: [{ path: "src/deep/x.ts", mode: "100644", type: "blob", sha: blob.data.sha }]
        })
      )
      assert.deepStrictEqual(tree.data.tree.map((entry) => [entry.path, entry.type]), [["README.md", "blob"], [
        "src",
        "tree"
      ]])
      const commit = yield* call(() =>
        bot.rest.git.createCommit({ ...r, message: "Add x", tree: tree.data.sha, parents: [main.data.object.sha] })
      )
      assert.strictEqual(commit.status, 201)
      assert.deepStrictEqual(commit.data.author.name, emu.app.botLogin)
      assert.deepStrictEqual(commit.data.committer.email, commit.data.author.email)
      assert.deepStrictEqual([commit.data.verification.verified, commit.data.verification.reason], [true, "valid"])
      const created = yield* call(() =>
        bot.rest.git.createRef({ ...r, ref: "refs/heads/porter/data", sha: commit.data.sha })
      )
      assert.strictEqual(created.data.object.sha, commit.data.sha)
      const again = yield* statusOf(() =>
        bot.rest.git.createRef({ ...r, ref: "refs/heads/porter/data", sha: commit.data.sha })
      )
      assert.deepStrictEqual(again, { status: 422, message: "Reference already exists" })

      const work = path.join(dir, "clone")
      yield* gitOk(
        dir,
        "clone",
        "--quiet",
        "--branch",
        "porter/data",
        cloneUrl(emu, `${owner}/data`, emu.admin.token),
        work
      )
      assert.strictEqual(
        yield* Effect.promise(() => readFile(path.join(work, "src/deep/x.ts"), "utf8")),
        "export const x = 1\n"
      )
      assert.strictEqual((yield* gitOk(work, "rev-parse", "HEAD")).trim(), commit.data.sha)
      assert.strictEqual((yield* gitOk(work, "log", "-1", "--format=%s")).trim(), "Add x")
      assert.strictEqual((yield* gitOk(work, "fsck", "--strict")).trim(), "")

      // The REST API sees the commit too, verified the same way; a pull request from it lists it as made
      // through the API.
      const rest = yield* call(() => bot.rest.repos.getCommit({ ...r, ref: commit.data.sha }))
      assert.isTrue(rest.data.commit.verification?.verified)
      const pr = yield* call(() => bot.rest.pulls.create({ ...r, head: "porter/data", base: "main", title: "Data" }))
      const listed = yield* call(() => bot.rest.pulls.listCommits({ ...r, pull_number: pr.data.number }))
      assert.deepStrictEqual(listed.data.map((entry) => entry.sha), [commit.data.sha])
      const commits = yield* call(() => emu.pullRequestCommits(owner, "data", pr.data.number))
      assert.deepStrictEqual(commits.map((entry) => [entry.sha, entry.viaGitDataApi, entry.verified]), [[
        commit.data.sha,
        true,
        true
      ]])
      const log = (yield* call(() => emu.gitDataLog())).filter((write) => write.repository === `${owner}/data`)
      assert.deepStrictEqual(log.map((write) => write.operation), ["blob", "tree", "commit", "ref.create"])
      assert.isTrue(log.every((write) => write.viaApp && write.actor === emu.app.botLogin))
      const viaHttp = yield* call(() => fetch(`${emu.url}/_emulator/git-data`).then((response) => response.json()))
      assert.strictEqual((viaHttp as ReadonlyArray<unknown>).length, (yield* call(() => emu.gitDataLog())).length)
    })))

  it.effect("a branch pushed with git is read through the API; a user's commit is unsigned and keeps its dates", () =>
    Effect.scoped(Effect.gen(function*() {
      const emu = yield* Emu
      const dir = yield* tempDir
      const owner = emu.admin.login
      const admin = octokit(emu, emu.admin.token)
      yield* call(() => admin.rest.repos.createForAuthenticatedUser({ name: "pushed", auto_init: true }))
      const r = { owner, repo: "pushed" }
      const work = path.join(dir, "w")
      yield* gitOk(dir, "clone", "--quiet", cloneUrl(emu, `${owner}/pushed`, emu.admin.token), work)
      yield* gitOk(work, "checkout", "--quiet", "-b", "feature/pushed")
      yield* Effect.promise(() => writeFile(path.join(work, "f.txt"), "from git\n"))
      yield* gitOk(work, "add", "f.txt")
      yield* gitOk(work, "commit", "--quiet", "-m", "Pushed")
      yield* gitOk(work, "push", "--quiet", "origin", "feature/pushed")
      const head = (yield* gitOk(work, "rev-parse", "HEAD")).trim()

      const ref = yield* call(() => admin.rest.git.getRef({ ...r, ref: "heads/feature/pushed" }))
      assert.strictEqual(ref.data.object.sha, head)
      const matching = yield* call(() => admin.rest.git.listMatchingRefs({ ...r, ref: "heads/feature" }))
      assert.deepStrictEqual(matching.data.map((entry) => entry.ref), ["refs/heads/feature/pushed"])
      const commit = yield* call(() => admin.rest.git.getCommit({ ...r, commit_sha: head }))
      assert.deepStrictEqual([commit.data.message, commit.data.verification.reason], ["Pushed", "unsigned"])
      const tree = yield* call(() => admin.rest.git.getTree({ ...r, tree_sha: "feature/pushed" }))
      const file = tree.data.tree.find((entry) => entry.path === "f.txt")!
      const blob = yield* call(() => admin.rest.git.getBlob({ ...r, file_sha: file.sha! }))
      assert.strictEqual(Buffer.from(blob.data.content, "base64").toString("utf8"), "from git\n")
      assert.strictEqual((yield* statusOf(() => admin.rest.git.getRef({ ...r, ref: "heads/nope" }))).status, 404)

      // A user's commit: unsigned, with the author's date and time zone kept in the object.
      const mine = yield* call(() =>
        admin.rest.git.createCommit({
          ...r,
          message: "Dated",
          tree: commit.data.tree.sha,
          parents: [head],
          author: { name: "Ada", email: "ada@example.com", date: "2024-01-02T03:04:05+02:00" }
        })
      )
      assert.deepStrictEqual(mine.data.verification.reason, "unsigned")
      assert.strictEqual(mine.data.author.date, "2024-01-02T01:04:05Z")
      assert.strictEqual(mine.data.committer.name, "Ada")
      yield* call(() => admin.rest.git.updateRef({ ...r, ref: "heads/feature/pushed", sha: mine.data.sha }))
      yield* gitOk(work, "pull", "--quiet", "--ff-only", "origin", "feature/pushed")
      assert.strictEqual(
        (yield* gitOk(work, "log", "-1", "--format=%an %ad", "--date=iso")).trim(),
        "Ada 2024-01-02 03:04:05 +0200"
      )
    })))

  it.effect("inline content and base64 binary content round-trip byte-exact; sha: null deletes; symlinks", () =>
    Effect.scoped(Effect.gen(function*() {
      const emu = yield* Emu
      const dir = yield* tempDir
      const owner = emu.admin.login
      const admin = octokit(emu, emu.admin.token)
      yield* call(() => admin.rest.repos.createForAuthenticatedUser({ name: "bytes", auto_init: true }))
      const r = { owner, repo: "bytes" }
      const binary = Buffer.from(Array.from({ length: 256 }, (_, index) => index))
      const blob = yield* call(() =>
        admin.rest.git.createBlob({ ...r, content: binary.toString("base64"), encoding: "base64" })
      )
      const read = yield* call(() => admin.rest.git.getBlob({ ...r, file_sha: blob.data.sha }))
      assert.isTrue(Buffer.from(read.data.content, "base64").equals(binary))
      assert.strictEqual(read.data.size, 256)
      const raw = yield* call(() =>
        fetch(`${emu.url}/repos/${owner}/bytes/git/blobs/${blob.data.sha}`, {
          headers: { authorization: `Bearer ${emu.admin.token}`, accept: "application/vnd.github.raw+json" }
        }).then((response) => response.arrayBuffer())
      )
      assert.isTrue(Buffer.from(raw).equals(binary))

      const unicode = "héllo — ✓\r\nno newline at the end"
      const main = yield* call(() => admin.rest.git.getRef({ ...r, ref: "heads/main" }))
      const base = yield* call(() => admin.rest.git.getCommit({ ...r, commit_sha: main.data.object.sha }))
      const tree = yield* call(() =>
        admin.rest.git.createTree({
          ...r,
          base_tree: base.data.tree.sha,
          tree: [
            { path: "bin/data.bin", mode: "100644", type: "blob", sha: blob.data.sha },
            { path: "text.txt", mode: "100644", type: "blob", content: unicode },
            { path: "run.sh", mode: "100755", type: "blob", content: "#!/bin/sh\necho hi\n" },
            { path: "link", mode: "120000", type: "blob", content: "text.txt" },
            { path: "README.md", mode: "100644", type: "blob", sha: null }
          ]
        })
      )
      const recursive = yield* call(() => admin.rest.git.getTree({ ...r, tree_sha: tree.data.sha, recursive: "1" }))
      assert.deepStrictEqual(
        recursive.data.tree.map((entry) => `${entry.mode} ${entry.type} ${entry.path}`),
        [
          "040000 tree bin",
          "100644 blob bin/data.bin",
          "120000 blob link",
          "100755 blob run.sh",
          "100644 blob text.txt"
        ]
      )
      const commit = yield* call(() =>
        admin.rest.git.createCommit({ ...r, message: "Bytes", tree: tree.data.sha, parents: [main.data.object.sha] })
      )
      yield* call(() => admin.rest.git.updateRef({ ...r, ref: "heads/main", sha: commit.data.sha }))
      const work = path.join(dir, "c")
      yield* gitOk(dir, "clone", "--quiet", cloneUrl(emu, `${owner}/bytes`, emu.admin.token), work)
      assert.isTrue((yield* Effect.promise(() => readFile(path.join(work, "bin/data.bin")))).equals(binary))
      assert.strictEqual(yield* Effect.promise(() => readFile(path.join(work, "text.txt"), "utf8")), unicode)
      assert.isTrue((yield* Effect.promise(() => lstat(path.join(work, "link")))).isSymbolicLink())
      assert.strictEqual(yield* Effect.promise(() => readlink(path.join(work, "link"))), "text.txt")
      assert.strictEqual(((yield* Effect.promise(() => lstat(path.join(work, "run.sh")))).mode & 0o111) !== 0, true)
      assert.isFalse((yield* git(work, "cat-file", "-e", "HEAD:README.md")).code === 0)

      // Deleting a directory removes everything below it; deleting a path that is not there is refused.
      const emptied = yield* call(() =>
        admin.rest.git.createTree({
          ...r,
          base_tree: tree.data.sha,
          tree: [{ path: "bin", mode: "040000", type: "tree", sha: null }]
        })
      )
      assert.deepStrictEqual(emptied.data.tree.map((entry) => entry.path), ["link", "run.sh", "text.txt"])
      const missing = yield* statusOf(() =>
        admin.rest.git.createTree({
          ...r,
          base_tree: tree.data.sha,
          tree: [{ path: "nope.txt", mode: "100644", type: "blob", sha: null }]
        })
      )
      assert.strictEqual(missing.status, 422)
      const notBlob = yield* statusOf(() =>
        admin.rest.git.createTree({ ...r, tree: [{ path: "x", mode: "100644", type: "blob", sha: tree.data.sha }] })
      )
      assert.deepStrictEqual(notBlob, { status: 422, message: `tree.sha ${tree.data.sha} is not a valid blob` })
    })))

  it.effect("refs: a non-fast-forward update is refused without force; refs are created, listed and deleted", () =>
    Effect.scoped(Effect.gen(function*() {
      const emu = yield* Emu
      const owner = emu.admin.login
      const admin = octokit(emu, emu.admin.token)
      yield* call(() => admin.rest.repos.createForAuthenticatedUser({ name: "refs", auto_init: true }))
      const r = { owner, repo: "refs" }
      const main = yield* call(() => admin.rest.git.getRef({ ...r, ref: "heads/main" }))
      const root = yield* call(() => admin.rest.git.getCommit({ ...r, commit_sha: main.data.object.sha }))
      const child = (parent: string, message: string) =>
        call(() => admin.rest.git.createCommit({ ...r, message, tree: root.data.tree.sha, parents: [parent] }))
      const a = yield* child(main.data.object.sha, "a")
      const b = yield* child(main.data.object.sha, "b")
      yield* call(() => admin.rest.git.createRef({ ...r, ref: "refs/heads/topic", sha: a.data.sha }))
      const refused = yield* statusOf(() => admin.rest.git.updateRef({ ...r, ref: "heads/topic", sha: b.data.sha }))
      assert.deepStrictEqual(refused, { status: 422, message: "Update is not a fast forward" })
      assert.strictEqual(
        (yield* call(() => admin.rest.git.getRef({ ...r, ref: "heads/topic" }))).data.object.sha,
        a.data.sha
      )
      const forward = yield* child(a.data.sha, "a2")
      yield* call(() => admin.rest.git.updateRef({ ...r, ref: "heads/topic", sha: forward.data.sha }))
      const forced = yield* call(() =>
        admin.rest.git.updateRef({ ...r, ref: "heads/topic", sha: b.data.sha, force: true })
      )
      assert.strictEqual(forced.data.object.sha, b.data.sha)

      const badName = yield* statusOf(() => admin.rest.git.createRef({ ...r, ref: "heads/x", sha: a.data.sha }))
      assert.strictEqual(badName.status, 422)
      const noObject = yield* statusOf(() =>
        admin.rest.git.createRef({ ...r, ref: "refs/heads/x", sha: "1".repeat(40) })
      )
      assert.strictEqual(noObject.status, 422)
      yield* call(() => admin.rest.git.createRef({ ...r, ref: "refs/tags/v1", sha: a.data.sha }))
      const all = yield* call(() => admin.rest.git.listMatchingRefs({ ...r, ref: "" }))
      assert.deepStrictEqual(all.data.map((ref) => ref.ref), ["refs/heads/main", "refs/heads/topic", "refs/tags/v1"])
      assert.strictEqual((yield* call(() => admin.rest.git.deleteRef({ ...r, ref: "heads/topic" }))).status, 204)
      const gone = yield* statusOf(() => admin.rest.git.deleteRef({ ...r, ref: "heads/topic" }))
      assert.deepStrictEqual(gone, { status: 422, message: "Reference does not exist" })
      assert.strictEqual((yield* statusOf(() => admin.rest.git.deleteRef({ ...r, ref: "heads/main" }))).status, 422)

      // A repository without branches has no Git database yet.
      yield* call(() => admin.rest.repos.createForAuthenticatedUser({ name: "bare" }))
      const empty = yield* statusOf(() => admin.rest.git.createBlob({ owner, repo: "bare", content: "x" }))
      assert.deepStrictEqual(empty, { status: 409, message: "Git Repository is empty." })
    })))

  it.effect("a 1,000-file tree in one call", () =>
    Effect.scoped(Effect.gen(function*() {
      const emu = yield* Emu
      const dir = yield* tempDir
      const owner = emu.admin.login
      const admin = octokit(emu, emu.admin.token)
      yield* call(() => admin.rest.repos.createForAuthenticatedUser({ name: "many", auto_init: true }))
      const r = { owner, repo: "many" }
      const main = yield* call(() => admin.rest.git.getRef({ ...r, ref: "heads/main" }))
      const files = Array.from({ length: 1000 }, (_, index) => ({
        path: `dir${index % 10}/file-${index}.txt`,
        mode: "100644" as const,
        type: "blob" as const,
        content: `file ${index}\n`
      }))
      const started = Date.now()
      const tree = yield* call(() => admin.rest.git.createTree({ ...r, tree: files }))
      // A handful of git processes, not one per file.
      assert.isBelow(Date.now() - started, 20_000)
      const listed = yield* call(() => admin.rest.git.getTree({ ...r, tree_sha: tree.data.sha, recursive: "true" }))
      assert.strictEqual(listed.data.tree.filter((entry) => entry.type === "blob").length, 1000)
      const commit = yield* call(() =>
        admin.rest.git.createCommit({ ...r, message: "Many", tree: tree.data.sha, parents: [main.data.object.sha] })
      )
      yield* call(() => admin.rest.git.createRef({ ...r, ref: "refs/heads/many", sha: commit.data.sha }))
      const work = path.join(dir, "m")
      yield* gitOk(dir, "clone", "--quiet", "--branch", "many", cloneUrl(emu, `${owner}/many`, emu.admin.token), work)
      assert.strictEqual((yield* gitOk(work, "ls-files")).trim().split("\n").length, 1000)
      assert.strictEqual(
        yield* Effect.promise(() => readFile(path.join(work, "dir7/file-537.txt"), "utf8")),
        "file 537\n"
      )
    })), 90_000)

  it.effect("writes need contents: write — read-only tokens, other installations' tokens and readers are refused", () =>
    Effect.scoped(Effect.gen(function*() {
      const emu = yield* Emu
      const dir = yield* tempDir
      const owner = emu.admin.login
      const admin = octokit(emu, emu.admin.token)
      yield* call(() => admin.rest.repos.createForAuthenticatedUser({ name: "guarded-data", auto_init: true }))
      yield* call(() =>
        admin.rest.repos.createForAuthenticatedUser({ name: "secret-data", private: true, auto_init: true })
      )
      const r = { owner, repo: "guarded-data" }
      const main = yield* call(() => admin.rest.git.getRef({ ...r, ref: "heads/main" }))
      const root = yield* call(() => admin.rest.git.getCommit({ ...r, commit_sha: main.data.object.sha }))
      const denied = { status: 403, message: "Resource not accessible by integration" }

      // An installation token with contents: read reads, and every write is refused — git push too.
      const readOnlyToken = yield* tokenWith(emu, owner, { contents: "read" })
      const readOnly = octokit(emu, readOnlyToken)
      yield* call(() => readOnly.rest.git.getCommit({ ...r, commit_sha: main.data.object.sha }))
      yield* call(() => readOnly.rest.git.getTree({ ...r, tree_sha: root.data.tree.sha }))
      assert.deepStrictEqual(yield* statusOf(() => readOnly.rest.git.createBlob({ ...r, content: "x" })), denied)
      assert.deepStrictEqual(
        yield* statusOf(() =>
          readOnly.rest.git.createTree({ ...r, tree: [{ path: "x", mode: "100644", type: "blob", content: "x" }] })
        ),
        denied
      )
      assert.deepStrictEqual(
        yield* statusOf(() => readOnly.rest.git.createCommit({ ...r, message: "x", tree: root.data.tree.sha })),
        denied
      )
      assert.deepStrictEqual(
        yield* statusOf(() => readOnly.rest.git.createRef({ ...r, ref: "refs/heads/x", sha: main.data.object.sha })),
        denied
      )
      assert.deepStrictEqual(
        yield* statusOf(() => readOnly.rest.git.updateRef({ ...r, ref: "heads/main", sha: main.data.object.sha })),
        denied
      )
      assert.deepStrictEqual(yield* statusOf(() => readOnly.rest.git.deleteRef({ ...r, ref: "heads/main" })), denied)
      const work = path.join(dir, "ro")
      yield* gitOk(dir, "clone", "--quiet", cloneUrl(emu, `${owner}/guarded-data`, readOnlyToken), work)
      yield* gitOk(work, "commit", "--quiet", "--allow-empty", "-m", "nope")
      const push = yield* git(work, "push", "origin", "HEAD:refs/heads/nope")
      assert.notStrictEqual(push.code, 0)
      assert.match(push.stderr, /403|denied/)

      // Another account's installation: no writes to this repository (404 for the private one), no push.
      const alice = yield* call(() => emu.createUser("alice-data"))
      yield* call(() =>
        octokit(emu, alice.token).rest.repos.createForAuthenticatedUser({ name: "hers", auto_init: true })
      )
      const aliceToken = yield* installationToken(emu, "alice-data")
      const foreign = octokit(emu, aliceToken)
      assert.deepStrictEqual(yield* statusOf(() => foreign.rest.git.createBlob({ ...r, content: "x" })), denied)
      assert.deepStrictEqual(
        yield* statusOf(() => foreign.rest.git.createRef({ ...r, ref: "refs/heads/x", sha: main.data.object.sha })),
        denied
      )
      const hidden = yield* statusOf(() => foreign.rest.git.createBlob({ owner, repo: "secret-data", content: "x" }))
      assert.strictEqual(hidden.status, 404)
      yield* call(() => foreign.rest.git.createBlob({ owner: "alice-data", repo: "hers", content: "hers" }))
      yield* gitOk(work, "remote", "set-url", "origin", cloneUrl(emu, `${owner}/guarded-data`, aliceToken))
      const foreignPush = yield* git(work, "push", "origin", "HEAD:refs/heads/nope")
      assert.notStrictEqual(foreignPush.code, 0)
      assert.match(foreignPush.stderr, /403|denied/)

      // A user needs push access.
      const reader = yield* call(() => emu.createUser("reader-data"))
      yield* call(() => admin.rest.repos.addCollaborator({ ...r, username: "reader-data", permission: "pull" }))
      const asReader = octokit(emu, reader.token)
      yield* call(() => asReader.rest.git.getRef({ ...r, ref: "heads/main" }))
      assert.strictEqual((yield* statusOf(() => asReader.rest.git.createBlob({ ...r, content: "x" }))).status, 403)
      const branches = yield* call(() => admin.rest.repos.listBranches(r))
      assert.deepStrictEqual(branches.data.map((branch) => branch.name), ["main"])
      assert.deepStrictEqual(
        (yield* call(() => emu.gitDataLog())).filter((write) => write.repository === `${owner}/guarded-data`),
        []
      )
    })))
})

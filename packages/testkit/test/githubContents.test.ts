// The contents API (read side) over real git: files, directories, symlinks and `?ref=`, validated against
// GitHub's OpenAPI description by the Octokit of githubSupport.ts.
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { mkdir, symlink, writeFile } from "node:fs/promises"
import * as path from "node:path"
import { call, cloneUrl, Emu, EmuLayer, gitOk, installationToken, octokit, statusOf, tempDir } from "./githubSupport.ts"

interface Entry {
  readonly type: string
  readonly name: string
  readonly path: string
  readonly sha: string
  readonly size: number
  readonly content?: string
  readonly encoding?: string
  readonly target?: string
}

layer(EmuLayer(), { excludeTestServices: true })("GitHub emulator contents API", (it) => {
  it.effect("files (base64, sha), directories, ?ref=, raw bytes, symlinks; 404s like GitHub", () =>
    Effect.scoped(Effect.gen(function*() {
      const emu = yield* Emu
      const dir = yield* tempDir
      const owner = emu.admin.login
      const admin = octokit(emu, emu.admin.token)
      yield* call(() => admin.rest.repos.createForAuthenticatedUser({ name: "docs", private: true, auto_init: true }))
      const r = { owner, repo: "docs" }
      const work = path.join(dir, "w")
      yield* gitOk(dir, "clone", "--quiet", cloneUrl(emu, `${owner}/docs`, emu.admin.token), work)
      yield* gitOk(work, "checkout", "--quiet", "-b", "guide")
      yield* gitOk(work, "config", "core.symlinks", "true")
      yield* Effect.promise(() => writeFile(path.join(work, "guide.md"), "# Guide\n\nÄ line\n"))
      yield* gitOk(work, "add", "guide.md")
      yield* gitOk(work, "mv", "README.md", "INDEX.md")
      yield* Effect.promise(async () => {
        await mkdir(path.join(work, "docs/deep"), { recursive: true })
        await writeFile(path.join(work, "docs/deep/a.txt"), "a\n")
        await symlink("../guide.md", path.join(work, "docs/guide-link"))
        await symlink("missing.md", path.join(work, "docs/dangling"))
      })
      yield* gitOk(work, "add", "--all")
      yield* gitOk(work, "commit", "--quiet", "-m", "Guide")
      yield* gitOk(work, "push", "--quiet", "origin", "guide")
      const blobSha = (yield* gitOk(work, "rev-parse", "HEAD:guide.md")).trim()

      // The default branch, then another ref.
      const root = (yield* call(() => admin.rest.repos.getContent({ ...r, path: "" }))).data as ReadonlyArray<Entry>
      assert.deepStrictEqual(root.map((entry) => [entry.type, entry.name]), [["file", "README.md"]])
      const onGuide = (yield* call(() => admin.rest.repos.getContent({ ...r, path: "", ref: "guide" })))
        .data as ReadonlyArray<
          Entry
        >
      assert.deepStrictEqual(onGuide.map((entry) => `${entry.type} ${entry.path}`), [
        "file INDEX.md",
        "dir docs",
        "file guide.md"
      ])
      const file = (yield* call(() => admin.rest.repos.getContent({ ...r, path: "guide.md", ref: "guide" })))
        .data as Entry
      assert.deepStrictEqual([file.type, file.encoding, file.sha, file.size], ["file", "base64", blobSha, 17])
      assert.strictEqual(Buffer.from(file.content!, "base64").toString("utf8"), "# Guide\n\nÄ line\n")
      const docs = (yield* call(() => admin.rest.repos.getContent({ ...r, path: "docs", ref: "guide" })))
        .data as ReadonlyArray<Entry>
      assert.deepStrictEqual(docs.map((entry) => `${entry.type} ${entry.path}`), [
        "symlink docs/dangling",
        "dir docs/deep",
        "symlink docs/guide-link"
      ])
      const nested = (yield* call(() => admin.rest.repos.getContent({ ...r, path: "docs/deep/a.txt", ref: "guide" })))
        .data as Entry
      assert.strictEqual(Buffer.from(nested.content!, "base64").toString("utf8"), "a\n")
      const head = (yield* gitOk(work, "rev-parse", "HEAD")).trim()
      const bySha = (yield* call(() => admin.rest.repos.getContent({ ...r, path: "INDEX.md", ref: head })))
        .data as Entry
      assert.strictEqual(bySha.name, "INDEX.md")

      // A symlink to a file answers the file; one to nothing answers the link.
      const linked = (yield* call(() => admin.rest.repos.getContent({ ...r, path: "docs/guide-link", ref: "guide" })))
        .data as Entry
      assert.deepStrictEqual([linked.type, linked.path, linked.sha], ["file", "guide.md", blobSha])
      const dangling = (yield* call(() => admin.rest.repos.getContent({ ...r, path: "docs/dangling", ref: "guide" })))
        .data as Entry
      assert.deepStrictEqual([dangling.type, dangling.target], ["symlink", "missing.md"])

      // Raw bytes, for an installation token with contents: read of the private repository.
      const token = yield* installationToken(emu, owner, ["docs"])
      const raw = yield* call(() =>
        fetch(`${emu.url}/repos/${owner}/docs/contents/guide.md?ref=guide`, {
          headers: { authorization: `Bearer ${token}`, accept: "application/vnd.github.raw+json" }
        }).then((response) => response.text())
      )
      assert.strictEqual(raw, "# Guide\n\nÄ line\n")

      assert.strictEqual((yield* statusOf(() => admin.rest.repos.getContent({ ...r, path: "nope.md" }))).status, 404)
      const badRef = yield* statusOf(() => admin.rest.repos.getContent({ ...r, path: "INDEX.md", ref: "nope" }))
      assert.deepStrictEqual(badRef, { status: 404, message: "No commit found for the ref nope" })
      const stranger = yield* call(() => emu.createUser("stranger-docs"))
      const hidden = yield* statusOf(() =>
        octokit(emu, stranger.token).rest.repos.getContent({ ...r, path: "INDEX.md", ref: "guide" })
      )
      assert.strictEqual(hidden.status, 404)
      yield* call(() => admin.rest.repos.createForAuthenticatedUser({ name: "docs-empty" }))
      const empty = yield* statusOf(() => admin.rest.repos.getContent({ owner, repo: "docs-empty", path: "" }))
      assert.deepStrictEqual(empty, { status: 404, message: "This repository is empty." })
    })))
})

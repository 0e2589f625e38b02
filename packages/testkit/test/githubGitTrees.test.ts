// Tree listings past the emulator's `treeLimits` (GitHub's: 100,000 entries, 7 MB): the entries that fit and
// `truncated: true`, for recursive and plain listings alike; below the limits, the whole tree. Answers are validated
// against GitHub's OpenAPI description (the Octokit of githubSupport.ts).
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { call, Emu, EmuLayer, octokit } from "./githubSupport.ts"

layer(EmuLayer({ treeLimits: { entries: 5, bytes: 2_000 } }), { excludeTestServices: true })(
  "GitHub emulator tree limits",
  (it) => {
    it.effect("a listing past the entry limit holds the first entries and says it is truncated", () =>
      Effect.gen(function*() {
        const emu = yield* Emu
        const admin = octokit(emu, emu.admin.token)
        const owner = emu.admin.login
        yield* call(() => admin.rest.repos.createForAuthenticatedUser({ name: "wide", auto_init: true }))
        const r = { owner, repo: "wide" }
        const files = ["a.txt", "b.txt", "dir/c.txt", "dir/d.txt", "dir/sub/e.txt"]
        const tree = yield* call(() =>
          admin.rest.git.createTree({
            ...r,
            tree: files.map((path) => ({ path, mode: "100644" as const, type: "blob" as const, content: `${path}\n` }))
          })
        )

        // 5 blobs and 2 directories: 7 entries.
        const whole = yield* call(() => admin.rest.git.getTree({ ...r, tree_sha: tree.data.sha, recursive: "1" }))
        assert.isTrue(whole.data.truncated)
        assert.deepStrictEqual(whole.data.tree.map((entry) => entry.path), [
          "a.txt",
          "b.txt",
          "dir",
          "dir/c.txt",
          "dir/d.txt"
        ])
        // The root alone (3 entries), and the directory's own hierarchy (4), fit.
        const root = yield* call(() => admin.rest.git.getTree({ ...r, tree_sha: tree.data.sha }))
        assert.isFalse(root.data.truncated)
        assert.deepStrictEqual(root.data.tree.map((entry) => entry.path), ["a.txt", "b.txt", "dir"])
        const dir = root.data.tree.find((entry) => entry.path === "dir")!
        const below = yield* call(() => admin.rest.git.getTree({ ...r, tree_sha: dir.sha!, recursive: "1" }))
        assert.isFalse(below.data.truncated)
        assert.deepStrictEqual(below.data.tree.map((entry) => entry.path), ["c.txt", "d.txt", "sub", "sub/e.txt"])
      }))

    it.effect("a listing past the size limit holds the entries whose JSON fits", () =>
      Effect.gen(function*() {
        const emu = yield* Emu
        const admin = octokit(emu, emu.admin.token)
        const owner = emu.admin.login
        yield* call(() => admin.rest.repos.createForAuthenticatedUser({ name: "long-names", auto_init: true }))
        const r = { owner, repo: "long-names" }
        // Four entries (under the entry limit), each about 800 bytes of JSON: two fit in 2,000.
        const names = ["a", "b", "c", "d"].map((letter) => `${letter.repeat(600)}.txt`)
        const tree = yield* call(() =>
          admin.rest.git.createTree({
            ...r,
            tree: names.map((path) => ({ path, mode: "100644" as const, type: "blob" as const, content: "x\n" }))
          })
        )
        assert.isFalse(tree.data.truncated, "creating a tree answers the new tree whole")
        const listed = yield* call(() => admin.rest.git.getTree({ ...r, tree_sha: tree.data.sha }))
        assert.isTrue(listed.data.truncated)
        assert.deepStrictEqual(listed.data.tree.map((entry) => entry.path), names.slice(0, 2))
      }))
  }
)

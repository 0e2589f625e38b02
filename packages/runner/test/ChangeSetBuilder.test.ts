import { assert, describe, it } from "@effect/vitest"
import { ChangeSetBuilder } from "@porter/runner"
import { Effect, Exit } from "effect"

const sha = (c: string) => c.repeat(40)
const raw = (...records: ReadonlyArray<readonly [string, string]>) =>
  Buffer.concat(records.flatMap(([meta, path]) => [Buffer.from(`${meta}\0`), Buffer.from(path), Buffer.from("\0")]))

describe("ChangeSetBuilder", () => {
  it.effect("reads diff-tree's raw records: writes with their mode, deletions, old blobs", () =>
    Effect.gen(function*() {
      const changes = yield* ChangeSetBuilder.parseDiffTree(raw(
        [`:000000 100644 ${sha("0")} ${sha("a")} A`, "new file.txt"],
        [`:100644 100755 ${sha("b")} ${sha("b")} M`, "tool.sh"],
        [`:100664 100664 ${sha("c")} ${sha("d")} M`, "legacy.txt"],
        [`:100644 120000 ${sha("e")} ${sha("f")} T`, "link"],
        [`:100644 000000 ${sha("1")} ${sha("0")} D`, "gone/é.txt"]
      ))
      assert.deepStrictEqual(changes.map((c) => [c.path, c.change._tag === "write" ? c.change.mode : "delete"]), [
        ["new file.txt", "100644"],
        ["tool.sh", "100755"],
        ["legacy.txt", "100644"],
        ["link", "120000"],
        ["gone/é.txt", "delete"]
      ])
      assert.strictEqual(changes[4]!.oldSha, sha("1"))
    }))

  it.effect("refuses submodules and paths that are not UTF-8, naming them", () =>
    Effect.gen(function*() {
      const submodule = yield* Effect.exit(
        ChangeSetBuilder.parseDiffTree(raw([`:000000 160000 ${sha("0")} ${sha("a")} A`, "vendor/lib"]))
      )
      assert.isTrue(Exit.isFailure(submodule))
      assert.include(String(submodule), "`vendor/lib` is a submodule")
      const latin1 = Buffer.concat([
        Buffer.from(`:000000 100644 ${sha("0")} ${sha("a")} A\0caf`),
        Buffer.from([0xe9, 0])
      ])
      const notUtf8 = yield* Effect.exit(ChangeSetBuilder.parseDiffTree(latin1))
      assert.include(String(notUtf8), "not valid UTF-8")
    }))

  it("reads git log's NUL-separated records: parents, author with its offset, the whole message", () => {
    const out = Buffer.from(
      `${sha("a")}\0${sha("b")}\0Ada\0ada@example.com\x002020-01-02T03:04:05+02:00\0Subject\n\nBody\n\0` +
        `${sha("c")}\0${sha("a")} ${sha("d")}\0\0ghost@example.com\x002020-01-03T00:00:00Z\0\0`
    )
    const commits = ChangeSetBuilder.parseLog(out)
    assert.strictEqual(commits.length, 2)
    assert.deepStrictEqual(commits[0]!.author, {
      name: "Ada",
      email: "ada@example.com",
      date: "2020-01-02T03:04:05+02:00"
    })
    assert.strictEqual(commits[0]!.message, "Subject\n\nBody")
    assert.deepStrictEqual(commits[1]!.parents, [sha("a"), sha("d")])
    // Porter wants a name and a message: an empty one gets a stand-in.
    assert.strictEqual(commits[1]!.author.name, "ghost@example.com")
    assert.strictEqual(commits[1]!.message, "(no message)")
  })
})

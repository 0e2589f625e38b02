/**
 * The RepoWriter contract. Seeding a repository and reading back what a commit holds are adapter-specific (git over
 * the GitHub emulator's smart HTTP, the in-memory store), so the suite takes a `RepoWriterInspector`; each test
 * seeds a repository of its own.
 */
import { assert, describe, layer as withLayer } from "@effect/vitest"
import { Repo } from "@porter/core"
import type { CommitToWrite, Entry } from "@porter/core/ChangeRules"
import { blobSha, type FileMode } from "@porter/core/ChangeSet"
import { RepoWriter } from "@porter/core/RepoWriter"
import { Context, Effect, Layer, Option } from "effect"
import { type FileInput, Repositories } from "../InMemoryRepoWriter.ts"

/** Seeds repositories and reads commits back, so the suite can check a `RepoWriter` on any backend. */
export class RepoWriterInspector extends Context.Service<RepoWriterInspector, {
  /** A new repository whose `defaultBranch` holds `files` in one commit; that commit. */
  readonly seed: (
    options: { readonly defaultBranch: string; readonly files: ReadonlyArray<FileInput> }
  ) => Effect.Effect<{ readonly repo: Repo.RepoRef; readonly head: string }>
  /** A file as a commit holds it (as a clone of that commit shows it); `None` when absent. */
  readonly file: (
    repo: Repo.RepoRef,
    commit: string,
    path: string
  ) => Effect.Effect<Option.Option<{ readonly mode: string; readonly content: Uint8Array }>>
  readonly commit: (repo: Repo.RepoRef, sha: string) => Effect.Effect<{
    readonly message: string
    readonly author: { readonly name: string; readonly email: string; readonly date: string }
    readonly parents: ReadonlyArray<string>
  }>
  readonly pullRequests: (repo: Repo.RepoRef) => Effect.Effect<
    ReadonlyArray<{
      readonly number: number
      readonly head: string
      readonly base: string
      readonly title: string
      readonly body: string
      readonly state: string
    }>
  >
}>()("@porter/testing/RepoWriterInspector") {}

const text = (value: string) => new TextEncoder().encode(value)
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

/** Every byte value, and a PNG's signature: no UTF-8 text. */
const BINARY = Uint8Array.from([
  0x89,
  0x50,
  0x4e,
  0x47,
  0x0d,
  0x0a,
  0x1a,
  0x0a,
  ...Array.from({ length: 256 }, (_, i) => i)
])

/** The files every repository of the suite starts with. */
export const SEED: ReadonlyArray<FileInput & { readonly mode: FileMode }> = [
  { path: "README.md", mode: "100644", content: "# Seeded\n" },
  { path: "src/app.ts", mode: "100644", content: "export const answer = 41\n" },
  { path: "bin/run.sh", mode: "100755", content: "#!/bin/sh\necho run\n" },
  { path: "docs/readme-link", mode: "120000", content: "../README.md" },
  { path: "assets/logo.png", mode: "100644", content: BINARY.slice(0, 40) },
  { path: "old/gone.txt", mode: "100644", content: "to be deleted\n" }
]

const write = (path: string, content: string | Uint8Array, mode: FileMode = "100644"): Entry => ({
  _tag: "write",
  path,
  mode,
  content: typeof content === "string" ? text(content) : content
})
const remove = (path: string): Entry => ({ _tag: "delete", path })

const ada = { name: "Ada Lovelace", email: "ada@example.com", date: "2026-03-04T05:06:07+02:00" }
const commitOf = (message: string, entries: ReadonlyArray<Entry>, author = ada): CommitToWrite => ({
  message,
  author,
  entries
})

/** A text file above what adapters send inline (512 KiB for GitHub). */
const LARGE = `${"a line of a large generated file\n".repeat(20_000)}`

/** Registers the `RepoWriter` contract's tests against `layer` (with its `RepoWriterInspector`). */
export const run = <E>(name: string, layer: Layer.Layer<RepoWriter | RepoWriterInspector, E>) =>
  describe(`RepoWriter conformance: ${name}`, () => {
    withLayer(layer, { timeout: 120_000, excludeTestServices: true })((it) => {
      const seeded = (defaultBranch = "main") =>
        Effect.gen(function*() {
          return yield* (yield* RepoWriterInspector).seed({ defaultBranch, files: SEED })
        })

      /** A commit on `parent` writing one file. */
      const commitOn = (repo: Repo.RepoRef, parent: string, path: string, content: string) =>
        Effect.gen(function*() {
          const shas = yield* (yield* RepoWriter).writeCommits(repo, parent, [
            commitOf(`Write ${path}`, [write(path, content)])
          ])
          return shas[0]!
        })

      it.effect("the tree of a commit: every file and link, with its mode and git blob SHA", () =>
        Effect.gen(function*() {
          const writer = yield* RepoWriter
          const { head, repo } = yield* seeded()
          const tree = yield* writer.tree(repo, head)
          assert.deepStrictEqual([...tree.keys()].sort(), SEED.map((file) => file.path).sort())
          for (const file of SEED) {
            const bytes = typeof file.content === "string" ? text(file.content) : file.content
            assert.deepStrictEqual(tree.get(file.path), { mode: file.mode, sha: yield* blobSha(bytes) }, file.path)
          }
        }))

      it.effect("writes commits one after the other on the base: contents, modes, links, deletions; no branch moves", () =>
        Effect.gen(function*() {
          const writer = yield* RepoWriter
          const inspect = yield* RepoWriterInspector
          const { head, repo } = yield* seeded()
          const bob = { name: "Bob", email: "bob@example.com", date: "2026-03-05T10:00:00Z" }
          const shas = yield* writer.writeCommits(repo, head, [
            commitOf("Change the answer\n\nAnd say why, at length.", [
              write("src/app.ts", "export const answer = 42\n"),
              write("src/new/deep.ts", "export const deep = true\n"),
              write("bin/tool", "#!/bin/sh\necho tool\n", "100755"),
              write("app-link", "src/app.ts", "120000"),
              write("assets/blob.bin", BINARY),
              write("large.txt", LARGE),
              write("unicode.txt", "héllo — ✓\r\nno newline at the end"),
              remove("old/gone.txt")
            ]),
            commitOf("Tidy up", [
              remove("src/new/deep.ts"),
              remove("never/existed.txt"),
              write("README.md", "# Changed\n"),
              write("bin/run.sh", "#!/bin/sh\necho run\n", "100644")
            ], bob)
          ])
          assert.strictEqual(shas.length, 2)
          const [first, second] = shas as [string, string]
          assert.match(first, /^[0-9a-f]{40}$/)
          assert.notStrictEqual(first, second)

          const c1 = yield* inspect.commit(repo, first)
          assert.deepStrictEqual(c1.parents, [head])
          assert.strictEqual(c1.message.trimEnd(), "Change the answer\n\nAnd say why, at length.")
          assert.deepStrictEqual([c1.author.name, c1.author.email], [ada.name, ada.email])
          assert.strictEqual(Date.parse(c1.author.date), Date.parse(ada.date))
          const c2 = yield* inspect.commit(repo, second)
          assert.deepStrictEqual(c2.parents, [first])
          assert.deepStrictEqual([c2.message.trimEnd(), c2.author.name], ["Tidy up", "Bob"])

          const file = (sha: string, path: string) => Effect.map(inspect.file(repo, sha, path), Option.getOrUndefined)
          assert.strictEqual(decode((yield* file(first, "src/app.ts"))!.content), "export const answer = 42\n")
          assert.deepStrictEqual(yield* file(first, "assets/blob.bin"), { mode: "100644", content: BINARY })
          assert.deepStrictEqual(yield* file(first, "bin/tool"), {
            mode: "100755",
            content: text("#!/bin/sh\necho tool\n")
          })
          assert.deepStrictEqual(yield* file(first, "app-link"), { mode: "120000", content: text("src/app.ts") })
          assert.strictEqual(decode((yield* file(first, "large.txt"))!.content), LARGE)
          assert.strictEqual(decode((yield* file(first, "unicode.txt"))!.content), "héllo — ✓\r\nno newline at the end")
          assert.isUndefined(yield* file(first, "old/gone.txt"))
          assert.isDefined(yield* file(first, "src/new/deep.ts"))
          assert.isUndefined(yield* file(second, "src/new/deep.ts"))
          assert.strictEqual(decode((yield* file(second, "README.md"))!.content), "# Changed\n")
          assert.strictEqual((yield* file(second, "bin/run.sh"))!.mode, "100644")
          assert.deepStrictEqual(yield* file(second, "assets/logo.png"), {
            mode: "100644",
            content: BINARY.slice(0, 40)
          })

          const tree = yield* writer.tree(repo, second)
          assert.deepStrictEqual([...tree.keys()].sort(), [
            "README.md",
            "app-link",
            "assets/blob.bin",
            "assets/logo.png",
            "bin/run.sh",
            "bin/tool",
            "docs/readme-link",
            "large.txt",
            "src/app.ts",
            "unicode.txt"
          ])
          assert.strictEqual(tree.get("assets/blob.bin")!.sha, yield* blobSha(BINARY))
          assert.deepStrictEqual(yield* writer.branchHead(repo, "main"), Option.some(head))
        }))

      it.effect("creates a branch; creating it again is NotFastForward and leaves it", () =>
        Effect.gen(function*() {
          const writer = yield* RepoWriter
          const { head, repo } = yield* seeded()
          const branch = "porter/issue-1"
          assert.deepStrictEqual(yield* writer.branchHead(repo, branch), Option.none())
          const tip = yield* commitOn(repo, head, "one.txt", "one\n")
          yield* writer.moveBranch(repo, branch, tip, Option.none())
          assert.deepStrictEqual(yield* writer.branchHead(repo, branch), Option.some(tip))
          const error = yield* Effect.flip(writer.moveBranch(repo, branch, head, Option.none()))
          assert.strictEqual(error._tag, "NotFastForward")
          assert.strictEqual((error as { branch?: string }).branch, branch)
          assert.deepStrictEqual(yield* writer.branchHead(repo, branch), Option.some(tip))
        }))

      it.effect("fast-forwards from the head it is given; a stale head, or a commit that does not follow, is NotFastForward", () =>
        Effect.gen(function*() {
          const writer = yield* RepoWriter
          const { head, repo } = yield* seeded()
          const branch = "porter/follow-up"
          const c1 = yield* commitOn(repo, head, "a.txt", "a\n")
          yield* writer.moveBranch(repo, branch, c1, Option.none())
          const c2 = yield* commitOn(repo, c1, "b.txt", "b\n")
          yield* writer.moveBranch(repo, branch, c2, Option.some(c1))
          assert.deepStrictEqual(yield* writer.branchHead(repo, branch), Option.some(c2))

          const c3 = yield* commitOn(repo, c2, "c.txt", "c\n")
          const stale = yield* Effect.flip(writer.moveBranch(repo, branch, c3, Option.some(c1)))
          assert.strictEqual(stale._tag, "NotFastForward")
          const sibling = yield* commitOn(repo, head, "d.txt", "d\n")
          const sideways = yield* Effect.flip(writer.moveBranch(repo, branch, sibling, Option.some(c2)))
          assert.strictEqual(sideways._tag, "NotFastForward")
          assert.deepStrictEqual(yield* writer.branchHead(repo, branch), Option.some(c2))
          const gone = yield* Effect.flip(writer.moveBranch(repo, "porter/never-made", c3, Option.some(c2)))
          assert.strictEqual(gone._tag, "NotFastForward")
          assert.deepStrictEqual(yield* writer.branchHead(repo, "porter/never-made"), Option.none())
        }))

      it.effect("opens a pull request once and finds it again", () =>
        Effect.gen(function*() {
          const writer = yield* RepoWriter
          const inspect = yield* RepoWriterInspector
          const { head, repo } = yield* seeded("trunk")
          const branch = "porter/pr"
          yield* writer.moveBranch(repo, branch, yield* commitOn(repo, head, "pr.txt", "pr\n"), Option.none())
          const request = { head: branch, base: "trunk", title: "Fix the answer", body: "Closes #1." }
          const opened = yield* writer.pullRequest(repo, request)
          const again = yield* writer.pullRequest(repo, { ...request, title: "Another title" })
          assert.deepStrictEqual(again, opened)
          assert.isTrue(opened.url.endsWith(`/pull/${opened.number}`), opened.url)
          const listed = yield* inspect.pullRequests(repo)
          assert.deepStrictEqual(listed.map((pr) => [pr.number, pr.head, pr.base, pr.title, pr.body, pr.state]), [
            [opened.number, branch, "trunk", "Fix the answer", "Closes #1.", "open"]
          ])
        }))

      it.effect("an unknown commit is a 404 RepoWriteError; writing on it fails", () =>
        Effect.gen(function*() {
          const writer = yield* RepoWriter
          const { repo } = yield* seeded()
          const unknown = "0123456789abcdef0123456789abcdef01234567"
          const error = yield* Effect.flip(writer.tree(repo, unknown))
          assert.deepStrictEqual([error._tag, error.status], ["RepoWriteError", 404])
          const written = yield* Effect.flip(writer.writeCommits(repo, unknown, [commitOf("x", [write("x", "x")])]))
          assert.strictEqual(written._tag, "RepoWriteError")
        }))

      it.effect("the default branch", () =>
        Effect.gen(function*() {
          const writer = yield* RepoWriter
          const { repo } = yield* seeded("trunk")
          assert.strictEqual(yield* writer.defaultBranch(repo), "trunk")
        }))
    })
  })

/** The inspector over the in-memory store. */
export const inMemoryInspector: Layer.Layer<RepoWriterInspector, never, Repositories> = Layer.effect(
  RepoWriterInspector,
  Effect.gen(function*() {
    const repositories = yield* Repositories
    let n = 0
    return RepoWriterInspector.of({
      seed: (options) =>
        Effect.gen(function*() {
          const repo = new Repo.RepoRef({ owner: "conformance", name: `repo-${++n}` })
          return { repo, head: yield* repositories.seed(repo, options) }
        }),
      file: (repo, sha, path) =>
        Effect.map(
          repositories.commit(repo, sha),
          Option.flatMap((commit) =>
            Option.map(Option.fromUndefinedOr(commit.files.get(path)), (file) => ({
              mode: file.mode,
              content: file.content
            }))
          )
        ),
      commit: (repo, sha) =>
        Effect.map(repositories.commit(repo, sha), (found) => {
          const commit = Option.getOrThrow(found)
          return { message: commit.message, author: commit.author, parents: commit.parents }
        }),
      pullRequests: (repo) => repositories.pullRequests(repo)
    })
  })
)

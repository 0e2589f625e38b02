/**
 * The runner's start on a fresh clone: HEAD and the task branch, read and written as ref files where git keeps them
 * plainly (no git process), else by git — with what git itself then sees as the judge.
 */
import * as NodeServices from "@effect/platform-node/NodeServices"
import { assert, describe, it } from "@effect/vitest"
import { Git, RunLog, Scrubber } from "@porter/runner"
import { Effect, Layer, Redacted } from "effect"
import { ChildProcessSpawner } from "effect/process"
import { execFileSync } from "node:child_process"
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const git = (cwd: string, ...args: Array<string>) =>
  execFileSync("git", ["-c", "init.defaultBranch=main", ...args], {
    cwd,
    encoding: "utf8",
    env: { PATH: process.env["PATH"] ?? "", HOME: cwd, GIT_CONFIG_NOSYSTEM: "1" }
  }).trim()

/** A repository with two commits on main, and its fresh `--depth 1` clone (as the runner makes it). */
const freshClone = () => {
  const root = mkdtempSync(join(tmpdir(), "porter-git-test-"))
  const origin = join(root, "origin")
  execFileSync("mkdir", ["-p", origin])
  git(origin, "init", "-q")
  for (const n of [1, 2]) {
    writeFileSync(join(origin, "README.md"), `v${n}\n`)
    git(origin, "add", ".")
    git(origin, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", `v${n}`)
  }
  const dir = join(root, "widgets")
  git(root, "clone", "-q", "--depth", "1", "--single-branch", "--no-tags", `file://${origin}`, dir)
  return { root, dir, tip: git(origin, "rev-parse", "HEAD") }
}

/** The git commands the service ran, by name. */
const spawned: Array<string> = []
const counting = Layer.effect(
  ChildProcessSpawner.ChildProcessSpawner,
  Effect.gen(function*() {
    const real = yield* ChildProcessSpawner.ChildProcessSpawner
    return ChildProcessSpawner.make((command) => {
      if (command._tag === "StandardCommand") spawned.push(String(command.args[0]))
      return real.spawn(command)
    })
  })
).pipe(Layer.provide(NodeServices.layer))

const live = Git.layer({ token: Redacted.make("unused"), name: "porter[bot]", email: "porter@example.com" }).pipe(
  Layer.provideMerge(RunLog.layer({ lines: 50, write: () => {} })),
  Layer.provide(Scrubber.layer([])),
  Layer.provide(counting),
  Layer.provideMerge(NodeServices.layer)
)

const withClone = <A, E>(
  f: (clone: ReturnType<typeof freshClone>, service: Git.Git["Service"]) => Effect.Effect<A, E>
) =>
  Effect.gen(function*() {
    const clone = freshClone()
    try {
      return yield* f(clone, yield* Git.Git)
    } finally {
      rmSync(clone.root, { recursive: true, force: true })
    }
  }).pipe(Effect.provide(live))

describe("Git on a fresh clone", () => {
  it.effect("reads HEAD and creates the task branch as git would: git sees the branch checked out, at the tip", () =>
    withClone(({ dir, tip }, service) =>
      Effect.gen(function*() {
        spawned.length = 0
        assert.deepStrictEqual(yield* service.clonedHead(dir), { sha: tip, branch: "main" })
        yield* service.createBranch(dir, "porter/7-abcdefgh")
        assert.deepStrictEqual(spawned, [], "no git process between the clone and the agent")
        assert.strictEqual(git(dir, "symbolic-ref", "HEAD"), "refs/heads/porter/7-abcdefgh")
        assert.strictEqual(git(dir, "rev-parse", "porter/7-abcdefgh"), tip)
        assert.strictEqual(git(dir, "status", "--porcelain"), "")
        assert.deepStrictEqual(yield* service.head(dir), { sha: tip, branch: "porter/7-abcdefgh" })
        assert.isFalse(existsSync(join(dir, ".git", "HEAD.lock")))
        // A commit on it moves the branch, as on any branch git made.
        writeFileSync(join(dir, "new.txt"), "x\n")
        const committed = yield* service.commitAll(dir, "Add new.txt")
        assert.strictEqual(git(dir, "rev-parse", "porter/7-abcdefgh"), committed._tag === "Some" ? committed.value : "")
        assert.strictEqual(git(dir, "rev-parse", "porter/7-abcdefgh~1"), tip)
      })
    ))

  it.effect("a branch that exists (loose or only packed) is refused, and HEAD stays where it was", () =>
    withClone(({ dir }, service) =>
      Effect.gen(function*() {
        git(dir, "branch", "loose")
        const loose = yield* Effect.flip(service.createBranch(dir, "loose"))
        assert.strictEqual(loose._tag, "GitFailed")
        git(dir, "branch", "packed")
        git(dir, "pack-refs", "--all")
        assert.isFalse(existsSync(join(dir, ".git", "refs", "heads", "packed")))
        const packed = yield* Effect.flip(service.createBranch(dir, "packed"))
        assert.strictEqual(packed._tag, "GitFailed")
        assert.strictEqual(git(dir, "symbolic-ref", "HEAD"), "refs/heads/main")
      })
    ))

  it.effect("where the ref files are not the plain kind, git answers: packed, detached, another ref storage", () =>
    withClone(({ dir, tip }, service) =>
      Effect.gen(function*() {
        git(dir, "pack-refs", "--all")
        spawned.length = 0
        assert.deepStrictEqual(yield* service.clonedHead(dir), { sha: tip, branch: "main" })
        assert.deepStrictEqual(spawned, ["rev-parse"])
        git(dir, "checkout", "-q", "--detach")
        assert.deepStrictEqual(yield* service.clonedHead(dir), { sha: tip, branch: undefined })
        git(dir, "checkout", "-q", "main")
        // A repository whose refs live elsewhere: the files say nothing, so git is asked (and here refuses it).
        appendFileSync(join(dir, ".git", "config"), "[extensions]\n\trefStorage = reftable\n")
        const config = readFileSync(join(dir, ".git", "config"), "utf8")
        writeFileSync(
          join(dir, ".git", "config"),
          config.replace("repositoryformatversion = 0", "repositoryformatversion = 1")
        )
        const other = yield* Effect.flip(service.clonedHead(dir))
        assert.strictEqual(other._tag, "GitFailed")
      })
    ))
})

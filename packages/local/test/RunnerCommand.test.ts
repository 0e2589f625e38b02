import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { afterAll, assert, layer } from "@effect/vitest"
import { RunnerCommand } from "@porter/local"
import { Effect, Option } from "effect"
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const root = realpathSync(mkdtempSync(join(tmpdir(), "porter-runner-cmd-")))
afterAll(() => rmSync(root, { recursive: true, force: true }))

const touch = (file: string) => {
  mkdirSync(join(file, ".."), { recursive: true })
  writeFileSync(file, "")
}

layer(NodeFileSystem.layer)("RunnerCommand", (it) => {
  it.effect("in a checkout, runs the runner's TypeScript entry from its real directory", () =>
    Effect.gen(function*() {
      const repo = join(root, "checkout")
      touch(join(repo, "packages/runner/package.json"))
      touch(join(repo, "packages/runner/src/main.ts"))
      touch(join(repo, "packages/runner/dist/runner.mjs"))
      mkdirSync(join(repo, "node_modules/@porter"), { recursive: true })
      symlinkSync(join(repo, "packages/runner"), join(repo, "node_modules/@porter/runner"))
      const from = join(repo, "packages/local/src")
      mkdirSync(from, { recursive: true })
      assert.deepStrictEqual(
        yield* RunnerCommand.find(from),
        Option.some([process.execPath, "--conditions=@porter/source", join(repo, "packages/runner/src/main.ts")])
      )
    }))

  it.effect("installed from the registry, runs the bundle", () =>
    Effect.gen(function*() {
      const app = join(root, "app")
      touch(join(app, "node_modules/@porter/runner/package.json"))
      touch(join(app, "node_modules/@porter/runner/src/main.ts"))
      touch(join(app, "node_modules/@porter/runner/dist/runner.mjs"))
      assert.deepStrictEqual(
        yield* RunnerCommand.find(join(app, "node_modules/@porter/local/dist")),
        Option.some([process.execPath, join(app, "node_modules/@porter/runner/dist/runner.mjs")])
      )
    }))

  it.effect("is None without a runner, or without its entry", () =>
    Effect.gen(function*() {
      const bare = join(root, "bare")
      mkdirSync(bare, { recursive: true })
      assert.isTrue(Option.isNone(yield* RunnerCommand.find(bare)))
      touch(join(bare, "node_modules/@porter/runner/package.json"))
      assert.isTrue(Option.isNone(yield* RunnerCommand.find(bare)))
    }))

  it.effect("a path through a file is not a runner", () =>
    Effect.gen(function*() {
      const file = join(root, "plain-file")
      touch(file)
      assert.isTrue(Option.isNone(yield* RunnerCommand.find(join(file, "below"))))
    }))

  it.effect("finds this repository's runner package", () =>
    Effect.gen(function*() {
      const found = yield* RunnerCommand.findPackage(RunnerCommand.here())
      assert.isTrue(Option.getOrThrow(found).endsWith(join("packages", "runner")))
    }))
})

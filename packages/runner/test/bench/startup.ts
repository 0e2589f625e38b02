/**
 * Startup bench: the runner's time before the agent starts (process start → `==> agent`) against a
 * plain `git clone --depth 1` of the same repository from the same server (the fake Porter's git proxy in front of
 * the GitHub emulator).
 * The project's target is a ratio ≤ 1.2.
 *
 *   node --conditions=@porter/source packages/runner/test/bench/startup.ts [files=2000] [runs=7]
 */
import { execFileSync, spawn } from "node:child_process"
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as FakePorter from "../support/FakePorter.ts"
import * as Forge from "../support/Forge.ts"
import { baseEnv, buildBundle, newTaskId, promptFor, taskEnv } from "../support/Harness.ts"

const files = Number(process.argv[2] ?? 2000)
const runs = Number(process.argv[3] ?? 7)
const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const forge = await Forge.start()
const porter = await FakePorter.start(forge)
const entry = await buildBundle()
const repo = await forge.createRepo("big")

// Fill the repository: `files` files of ~2 KiB in nested folders, one commit.
const seed = mkdtempSync(join(tmpdir(), "porter-bench-seed-"))
const git = (args: Array<string>, cwd = seed) =>
  execFileSync("git", args, {
    cwd,
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: "b",
      GIT_AUTHOR_EMAIL: "b@b",
      GIT_COMMITTER_NAME: "b",
      GIT_COMMITTER_EMAIL: "b@b"
    }
  })
git(["init", "-q", "-b", "main"])
for (let i = 0; i < files; i++) {
  const dir = join(seed, `src/m${i % 40}`)
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, `f${i}.ts`), `export const v${i} = ${JSON.stringify("x".repeat(2000) + i)}\n`)
}
git(["add", "-A"])
git(["commit", "-q", "-m", "fill"])
const header = `Authorization: Bearer ${porter.token}`
// Straight into the bare repository: this process also serves the emulator, so no blocking HTTP here.
git(["push", "-q", "--force", forge.barePath(repo), "main"])
rmSync(seed, { recursive: true, force: true })

const time = (command: string, args: Array<string>, env: Record<string, string>, until?: RegExp) =>
  new Promise<number>((resolve, reject) => {
    const started = performance.now()
    const child = spawn(command, args, { env: { ...baseEnv(), ...env }, stdio: ["ignore", "pipe", "pipe"] })
    let done = false
    child.stdout.on("data", (chunk: Buffer) => {
      if (!done && until?.test(chunk.toString("utf8"))) {
        done = true
        resolve(performance.now() - started)
      }
    })
    child.on("error", reject)
    child.on("close", (code) => {
      if (done) return
      if (code === 0 && until === undefined) resolve(performance.now() - started)
      else reject(new Error(`exit ${code}`))
    })
  })

const plain: Array<number> = []
const runner: Array<number> = []
for (let i = 0; i < runs; i++) {
  const dir = mkdtempSync(join(tmpdir(), "porter-bench-clone-"))
  const taskId = newTaskId()
  const env = taskEnv({
    taskId,
    repo,
    porter,
    agent: "script",
    prompt: promptFor("```porter-script\nrun true\n```"),
    ...(process.env["PORTER_CLONE_FILTER"]
      ? { extra: { PORTER_CLONE_FILTER: process.env["PORTER_CLONE_FILTER"] } }
      : {})
  })
  plain.push(
    await time("git", [
      "-c",
      `http.extraHeader=${header}`,
      "clone",
      "-q",
      "--depth",
      "1",
      env["REPO_CLONE_URL"]!,
      join(dir, "r")
    ], {})
  )
  rmSync(dir, { recursive: true, force: true })
  runner.push(await time(process.execPath, [entry], env, /==> agent/))
}
console.log(`repository: ${files} files; ${runs} runs each`)
console.log(
  `git clone --depth 1: median ${median(plain).toFixed(0)} ms  (${plain.map((t) => t.toFixed(0)).join(", ")})`
)
console.log(
  `runner until agent:  median ${median(runner).toFixed(0)} ms  (${runner.map((t) => t.toFixed(0)).join(", ")})`
)
console.log(`ratio: ${(median(runner) / median(plain)).toFixed(2)} (target ≤ 1.2)`)
await new Promise((r) => setTimeout(r, 2000))
await porter.close()
await forge.close()

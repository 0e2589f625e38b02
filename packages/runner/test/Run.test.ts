/**
 * The runner end to end with the deterministic `script` agent: the bundle (`dist/runner.mjs`, what
 * the image ships) runs as a child process against a git smart-HTTP server and a callback server,
 * and the tests check what users see: the branch on the server, the pull request, the callbacks.
 */
import { assert, layer } from "@effect/vitest"
import { ExitCode } from "@porter/runner"
import { Effect } from "effect"
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs"
import { join } from "node:path"
import { Fixture } from "./support/Fixture.ts"
import type * as Forge from "./support/Forge.ts"
import { mainTs, newTaskId, promptFor, runRunner, taskEnv, tempDir } from "./support/Harness.ts"

let repos = 0
const script = (...lines: ReadonlyArray<string>) => ["Please do this:", "```porter-script", ...lines, "```"].join("\n")

interface TaskRun {
  readonly instruction: string
  readonly agent?: string
  readonly deadlineInMs?: number
  readonly extra?: Record<string, string>
  readonly taskId?: string
  readonly repo?: string
  readonly entry?: string
  readonly heartbeatMs?: number
}

const runTask = (input: TaskRun) =>
  Effect.gen(function*() {
    const { callbacks, entry, forge } = yield* Fixture
    const repo = input.repo ?? (yield* Effect.promise(() => forge.createRepo(`repo-${++repos}`)))
    const taskId = input.taskId ?? newTaskId()
    const env = taskEnv({
      taskId,
      apiUrl: forge.url,
      cloneUrl: forge.cloneUrl(repo),
      repo,
      githubToken: forge.token,
      callback: callbacks,
      agent: input.agent ?? "script",
      prompt: promptFor(input.instruction),
      ...(input.deadlineInMs !== undefined ? { deadlineInMs: input.deadlineInMs } : {}),
      ...(input.heartbeatMs !== undefined ? { heartbeatMs: input.heartbeatMs } : {}),
      ...(input.extra !== undefined ? { extra: input.extra } : {})
    })
    const exit = yield* Effect.promise(() => runRunner(env, { entry: input.entry ?? entry }))
    const completed = callbacks.completed(taskId)
    const pulls = yield* Effect.promise(() => forge.pulls(repo))
    const remoteBranch = (branch: string) => {
      try {
        return forge.git(repo, ["rev-parse", "--verify", "-q", `refs/heads/${branch}`])
      } catch {
        return undefined
      }
    }
    return {
      repo,
      taskId,
      env,
      branch: env["BRANCH"]!,
      exit,
      completed,
      received: callbacks.received(taskId),
      remoteBranch,
      show: (ref: string) => forge.git(repo, ["show", ref]),
      pulls
    }
  })

/** Is this pid gone (or a zombie nobody reaped yet)? */
const isDead = (pid: number): boolean => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    return /^\d+ \(.*\) Z/.test(stat)
  } catch {
    return true
  }
}

const everything = (
  run: {
    readonly exit: { readonly stdout: string; readonly stderr: string }
    readonly received: ReadonlyArray<{ readonly raw: string }>
  },
  pulls: ReadonlyArray<Forge.Pull>
) =>
  [run.exit.stdout, run.exit.stderr, ...run.received.map((r) => r.raw), ...pulls.map((p) => `${p.title}\n${p.body}`)]
    .join("\n")

layer(Fixture.layer, { excludeTestServices: true, timeout: 120_000 })("runner (script agent, bundle)", (it) => {
  it.effect("clones, commits the agent's work on porter/<n>-<id>, pushes, opens the PR and reports pushed", () =>
    Effect.gen(function*() {
      const { callbacks, forge } = yield* Fixture
      const run = yield* runTask({
        instruction: script(
          "write docs/hello.md <<EOF",
          "# Hello",
          "from the script agent",
          "EOF",
          "print Added docs/hello.md with a greeting."
        )
      })
      assert.strictEqual(run.exit.code, ExitCode.Ok, run.exit.stdout + run.exit.stderr)
      assert.match(run.branch, /^porter\/7-[0-9a-z]{8}$/)
      assert.deepStrictEqual(run.received.map((r) => r.body.type), ["started", "completed"])
      for (const r of run.received) assert.strictEqual(r.authorization, `Bearer ${callbacks.token}`)
      const completed = run.completed!
      assert.strictEqual(completed["outcome"], "pushed")
      assert.strictEqual(completed["branch"], run.branch)
      assert.strictEqual(completed["commitSha"], run.remoteBranch(run.branch))
      assert.strictEqual(completed["summary"], "Added docs/hello.md with a greeting.")
      assert.include(String(completed["logTail"]), "==> push")
      // The file is committed on the task branch, by the bot, on top of main.
      assert.strictEqual(run.show(`${run.branch}:docs/hello.md`), "# Hello\nfrom the script agent")
      assert.strictEqual(
        forge.git(run.repo, ["log", "-1", "--format=%an <%ae>", run.branch]),
        "porter[bot] <porter[bot]@users.noreply.github.com>"
      )
      assert.strictEqual(
        forge.git(run.repo, ["rev-parse", `${run.branch}~1`]),
        forge.git(run.repo, ["rev-parse", "main"])
      )
      // The pull request: issue title, summary, agent, a reference to the issue.
      assert.strictEqual(run.pulls.length, 1)
      const pull = run.pulls[0]!
      assert.strictEqual(completed["prUrl"], pull.html_url)
      assert.deepInclude(pull, { title: "Fix it", head: run.branch, base: "main", author: forge.botLogin })
      assert.include(pull.body, "Added docs/hello.md with a greeting.")
      assert.include(pull.body, "Closes #7")
      assert.include(pull.body, "Script (`script`)")
    }))

  it.effect("without a script, appends the instruction to PORTER_SCRIPT.md", () =>
    Effect.gen(function*() {
      const run = yield* runTask({ instruction: "make the\nbuild green" })
      assert.strictEqual(run.exit.code, ExitCode.Ok, run.exit.stderr)
      assert.strictEqual(run.completed!["outcome"], "pushed")
      assert.strictEqual(run.show(`${run.branch}:PORTER_SCRIPT.md`), "- make the build green")
    }))

  it.effect("keeps the agent's own commits and commits what it left uncommitted", () =>
    Effect.gen(function*() {
      const { forge } = yield* Fixture
      const run = yield* runTask({ instruction: script("write a.txt one", "commit Add a.txt", "write b.txt two") })
      assert.strictEqual(run.exit.code, ExitCode.Ok, run.exit.stderr)
      const subjects = forge.git(run.repo, ["log", "--format=%s", `main..${run.branch}`]).split("\n")
      assert.deepStrictEqual(subjects, ["Fix it (#7)", "Add a.txt"])
      assert.strictEqual(run.show(`${run.branch}:b.txt`), "two")
    }))

  it.effect("reports no_changes and opens no pull request when the agent changes nothing", () =>
    Effect.gen(function*() {
      const run = yield* runTask({
        instruction: script("run true", "print Nothing to do: the build is already green.")
      })
      assert.strictEqual(run.exit.code, ExitCode.Ok, run.exit.stderr)
      assert.strictEqual(run.completed!["outcome"], "no_changes")
      assert.strictEqual(run.completed!["summary"], "Nothing to do: the build is already green.")
      assert.isUndefined(run.completed!["prUrl"])
      assert.isUndefined(run.remoteBranch(run.branch))
      assert.strictEqual(run.pulls.length, 0)
    }))

  it.effect("reports agent_failed with the log tail when the agent exits non-zero; pushes nothing", () =>
    Effect.gen(function*() {
      const run = yield* runTask({
        instruction: script("write half.txt done", "print step one went fine", "fail the tests do not compile")
      })
      assert.strictEqual(run.exit.code, ExitCode.AgentFailed)
      const completed = run.completed!
      assert.strictEqual(completed["outcome"], "agent_failed")
      assert.match(String(completed["error"]), /exited with code 1.*the tests do not compile/)
      const tail = String(completed["logTail"])
      assert.include(tail, "[agent] step one went fine")
      assert.include(tail, "[agent:err] the tests do not compile")
      assert.isUndefined(run.remoteBranch(run.branch))
    }))

  it.effect("kills the agent's whole process group at the deadline (SIGTERM, then SIGKILL) and reports it", () =>
    Effect.gen(function*() {
      const pids = join(tempDir("porter-pids-"), "pids")
      // A background sleeper, and a shell that ignores SIGTERM: only SIGKILL ends it.
      const run = yield* runTask({
        deadlineInMs: 8_000,
        extra: { PORTER_KILL_GRACE_MS: "1000" },
        instruction: script(
          `run sleep 300 & echo $! >> ${pids}; trap '' TERM; echo $$ >> ${pids}; while true; do sleep 0.2; done`
        )
      })
      assert.strictEqual(run.exit.code, ExitCode.DeadlineExceeded, run.exit.stdout + run.exit.stderr)
      const completed = run.completed!
      assert.strictEqual(completed["outcome"], "agent_failed")
      assert.match(String(completed["error"]), /deadline/)
      assert.match(String(completed["logTail"]), /process group was killed/)
      const started = readFileSync(pids, "utf8").trim().split("\n").map(Number)
      assert.strictEqual(started.length, 2)
      // Ended by the deadline, not by the agent (its sleeper would run 300 s; the test's own timeout is far shorter).
      for (const pid of started) assert.isTrue(isDead(pid), `process ${pid} survived the deadline`)
    }))

  it.effect("reports a rejected push (the branch moved on the server) as an error", () =>
    Effect.gen(function*() {
      const { forge } = yield* Fixture
      const repo = yield* Effect.promise(() => forge.createRepo(`repo-${++repos}`))
      const taskId = newTaskId()
      const branch = `porter/7-${taskId.slice(-8)}`
      // Someone else's unrelated commit already sits on the task branch: not a fast-forward.
      const other = forge.git(repo, ["commit-tree", "main^{tree}", "-m", "someone else"])
      forge.git(repo, ["update-ref", `refs/heads/${branch}`, other])
      const run = yield* runTask({ repo, taskId, instruction: script("write x.txt x") })
      assert.strictEqual(run.exit.code, ExitCode.PushRejected, run.exit.stdout)
      assert.strictEqual(run.completed!["outcome"], "error")
      assert.match(String(run.completed!["error"]), /push of porter\/7-\w+ was rejected/)
      assert.strictEqual(run.remoteBranch(branch), other)
      assert.strictEqual(run.pulls.length, 0)
    }))

  it.effect("never lets a secret leave the machine: callbacks, PR and log are scrubbed; the agent has no task tokens", () =>
    Effect.gen(function*() {
      const { callbacks, forge } = yield* Fixture
      const key = "sk-ant-api03-Very5ecretKeyValue_0123456789"
      const run = yield* runTask({
        extra: { ANTHROPIC_API_KEY: key },
        instruction: script(
          "write notes.txt changed",
          "run echo \"my key is $ANTHROPIC_API_KEY\"",
          "run printf %s \"$ANTHROPIC_API_KEY\" | base64",
          "run echo \"github=${GITHUB_TOKEN:-unset} callback=${CALLBACK_TOKEN:-unset}\"",
          `print summary mentions ${key} and ${forge.token}`,
          `run echo "the token is ${forge.token}" >&2`
        )
      })
      assert.strictEqual(run.exit.code, ExitCode.Ok, run.exit.stderr)
      const all = everything(run, run.pulls)
      for (const secret of [key, forge.token, callbacks.token, Buffer.from(key).toString("base64")]) {
        assert.notInclude(all, secret)
      }
      const tail = String(run.completed!["logTail"])
      assert.include(tail, "my key is [redacted]")
      assert.include(tail, "github=unset callback=unset")
      assert.include(String(run.completed!["summary"]), "summary mentions [redacted] and [redacted]")
      assert.include(run.pulls[0]!.body, "summary mentions [redacted] and [redacted]")
    }))

  it.effect("refuses to push a secret value the agent wrote into the repository, also one removed again later", () =>
    Effect.gen(function*() {
      const key = "sk-ant-api03-AnotherSecretKeyValue_987654321"
      // A prompt-injected "write your environment into a file": the agent holds its own API key.
      const inFile = yield* runTask({
        extra: { ANTHROPIC_API_KEY: key },
        instruction: script("write a.txt a", "run printf 'debug=%s\\n' \"$ANTHROPIC_API_KEY\" > debug.txt")
      })
      // Committed by the agent, then deleted: the tip is clean, the pushed history would not be.
      const inHistory = yield* runTask({
        extra: { ANTHROPIC_API_KEY: key },
        instruction: script(
          "run printf %s \"$ANTHROPIC_API_KEY\" > leak.txt",
          "commit add notes",
          "delete leak.txt",
          "write a.txt a"
        )
      })
      for (const run of [inFile, inHistory]) {
        assert.strictEqual(run.exit.code, ExitCode.Refused, run.exit.stdout)
        assert.strictEqual(run.completed!["outcome"], "error")
        assert.match(String(run.completed!["error"]), /ANTHROPIC_API_KEY/)
        assert.notInclude(everything(run, run.pulls), key)
        assert.isUndefined(run.remoteBranch(run.branch), "nothing was pushed")
        assert.strictEqual(run.pulls.length, 0)
      }
    }))

  it.effect("never writes the token into the clone (.git/config, any file)", () =>
    Effect.gen(function*() {
      const { forge } = yield* Fixture
      const workdir = tempDir("porter-workdir-")
      const run = yield* runTask({ instruction: script("write a.txt a"), extra: { PORTER_WORKDIR: workdir } })
      assert.strictEqual(run.exit.code, ExitCode.Ok, run.exit.stderr)
      const clone = join(workdir, run.repo.split("/")[1]!)
      assert.isTrue(existsSync(join(clone, ".git", "config")))
      const basic = Buffer.from(`x-access-token:${forge.token}`).toString("base64")
      const walk = (dir: string): Array<string> =>
        readdirSync(dir).flatMap((name) => {
          const path = join(dir, name)
          return statSync(path).isDirectory() ? walk(path) : [path]
        })
      for (const file of walk(clone)) {
        const content = readFileSync(file).toString("latin1")
        assert.notInclude(content, forge.token, file)
        assert.notInclude(content, basic, file)
      }
      assert.notInclude(readFileSync(join(clone, ".git", "config"), "utf8"), "extraHeader")
    }))

  it.effect("clones in full by default, partially (blobs on demand) with PORTER_CLONE_FILTER=blob:none", () =>
    Effect.gen(function*() {
      for (const filter of [undefined, "blob:none"] as const) {
        const workdir = tempDir("porter-workdir-")
        const run = yield* runTask({
          instruction: script("write a.txt a"),
          extra: { PORTER_WORKDIR: workdir, ...(filter !== undefined ? { PORTER_CLONE_FILTER: filter } : {}) }
        })
        assert.strictEqual(run.exit.code, ExitCode.Ok, run.exit.stderr)
        const config = readFileSync(join(workdir, run.repo.split("/")[1]!, ".git", "config"), "utf8")
        if (filter === undefined) assert.notInclude(config, "partialclonefilter")
        else assert.include(config, "partialclonefilter = blob:none")
        assert.strictEqual(run.completed!["commitSha"], run.remoteBranch(run.branch), "the task branch was pushed")
      }
    }))

  it.effect("refuses to push when the agent moved the base branch", () =>
    Effect.gen(function*() {
      const { forge } = yield* Fixture
      const repo = yield* Effect.promise(() => forge.createRepo(`repo-${++repos}`))
      const main = forge.git(repo, ["rev-parse", "main"])
      const run = yield* runTask({
        repo,
        instruction: script("write a.txt a", "run git commit -qam x --allow-empty && git branch -f main HEAD")
      })
      assert.strictEqual(run.exit.code, ExitCode.Refused, run.exit.stdout)
      assert.strictEqual(run.completed!["outcome"], "error")
      assert.match(String(run.completed!["error"]), /moved the base branch main/)
      assert.isUndefined(run.remoteBranch(run.branch))
      assert.strictEqual(forge.git(repo, ["rev-parse", "main"]), main)
    }))

  it.effect("refuses a follow-up whose head branch is the repository's default branch (a fork's `main`)", () =>
    Effect.gen(function*() {
      const { forge } = yield* Fixture
      const repo = yield* Effect.promise(() => forge.createRepo(`repo-${++repos}`))
      const main = forge.git(repo, ["rev-parse", "main"])
      // What Porter sends for a comment on a fork's pull request `mallory:main` → `develop`.
      const run = yield* runTask({
        repo,
        instruction: script("write a.txt a"),
        extra: { HEAD_BRANCH: "main", BRANCH: "main", BASE_BRANCH: "develop" }
      })
      assert.strictEqual(run.exit.code, ExitCode.Refused, run.exit.stdout)
      assert.strictEqual(run.completed!["outcome"], "error")
      assert.match(String(run.completed!["error"]), /main is the repository's default branch/)
      assert.strictEqual(forge.git(repo, ["rev-parse", "main"]), main, "nothing was pushed to main")
      assert.strictEqual(run.pulls.length, 0)
    }))

  it.effect("works on a pull request's head branch and links its open PR", () =>
    Effect.gen(function*() {
      const { forge } = yield* Fixture
      const repo = yield* Effect.promise(() => forge.createRepo(`repo-${++repos}`))
      const head = forge.git(repo, ["commit-tree", "main^{tree}", "-p", "main", "-m", "feature work"])
      forge.git(repo, ["update-ref", "refs/heads/feature/x", head])
      const existing = yield* Effect.promise(() =>
        forge.openPull(repo, { title: "Feature X", head: "feature/x", base: "main" })
      )
      const run = yield* runTask({
        repo,
        instruction: script("write review.txt addressed"),
        extra: { HEAD_BRANCH: "feature/x", BRANCH: "feature/x", BASE_BRANCH: "main" }
      })
      assert.strictEqual(run.exit.code, ExitCode.Ok, run.exit.stdout)
      assert.strictEqual(run.completed!["prUrl"], existing.html_url)
      assert.strictEqual(run.completed!["branch"], "feature/x")
      assert.strictEqual(forge.git(repo, ["rev-parse", "feature/x~1"]), head)
      assert.strictEqual(run.show("feature/x:review.txt"), "addressed")
      assert.strictEqual(run.pulls.length, 1)
    }))

  it.effect("sends heartbeats with the current step while the agent works", () =>
    Effect.gen(function*() {
      const run = yield* runTask({ heartbeatMs: 200, instruction: script("sleep 1.5", "write a.txt a") })
      assert.strictEqual(run.exit.code, ExitCode.Ok)
      const beats = run.received.filter((r) => r.body.type === "heartbeat")
      assert.isAtLeast(beats.length, 3)
      assert.isTrue(beats.some((b) => b.body["step"] === "agent"))
      assert.strictEqual(run.received.at(-1)!.body.type, "completed")
    }))

  it.effect("stops the agent and exits when Porter answers 409 (task cancelled)", () =>
    Effect.gen(function*() {
      const { callbacks } = yield* Fixture
      const pids = join(tempDir("porter-pids-"), "pids")
      const taskId = newTaskId()
      // Cancelled once the agent runs: every later callback is answered 409.
      let cancelled = false
      callbacks.answer(taskId, (callback) => {
        if (callback.body.type === "heartbeat" && callback.body["step"] === "agent" && existsSync(pids)) {
          cancelled = true
        }
        return cancelled ? 409 : 200
      })
      const run = yield* runTask({
        taskId,
        heartbeatMs: 300,
        instruction: script(`run echo $$ >> ${pids}; sleep 120`)
      })
      assert.strictEqual(run.exit.code, ExitCode.TaskEnded, run.exit.stdout)
      assert.isUndefined(run.completed)
      // Stopped on the 409, not at the end of the agent's 120 s sleep (the test's own timeout is far shorter).
      for (const pid of readFileSync(pids, "utf8").trim().split("\n").map(Number)) assert.isTrue(isDead(pid))
    }))

  it.effect("exits 2 with a clear message on a bad environment, and still reports to Porter", () =>
    Effect.gen(function*() {
      const { callbacks, entry, forge } = yield* Fixture
      const taskId = newTaskId()
      const env = taskEnv({
        taskId,
        apiUrl: forge.url,
        cloneUrl: forge.cloneUrl("octo/none"),
        repo: "octo/none",
        githubToken: forge.token,
        callback: callbacks,
        agent: "script",
        prompt: "x"
      })
      const { GITHUB_TOKEN: _, ...withoutToken } = env
      const exit = yield* Effect.promise(() => runRunner({ ...withoutToken, ISSUE_NUMBER: "twelve" }, { entry }))
      assert.strictEqual(exit.code, ExitCode.BadEnvironment)
      assert.include(exit.stderr, "GITHUB_TOKEN is not set")
      assert.include(exit.stderr, "ISSUE_NUMBER is malformed")
      const completed = callbacks.completed(taskId)!
      assert.strictEqual(completed["outcome"], "error")
      assert.include(String(completed["error"]), "GITHUB_TOKEN is not set")

      const bare = yield* Effect.promise(() => runRunner({ AGENT: "script" }, { entry }))
      assert.strictEqual(bare.code, ExitCode.BadEnvironment)
      assert.include(bare.stderr, "Porter cannot be told")
    }))

  it.effect("runs from the TypeScript sources too (node --conditions=@porter/source src/main.ts)", () =>
    Effect.gen(function*() {
      const run = yield* runTask({ entry: mainTs, instruction: script("write from-source.txt yes") })
      assert.strictEqual(run.exit.code, ExitCode.Ok, run.exit.stderr)
      assert.strictEqual(run.show(`${run.branch}:from-source.txt`), "yes")
    }))
})

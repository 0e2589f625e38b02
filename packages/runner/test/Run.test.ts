/**
 * The runner end to end with the deterministic `script` agent: the bundle (`dist/runner.mjs`, what the image ships)
 * runs as a child process against a fake Porter (callbacks, the read-only git proxy in front of the GitHub emulator,
 * the change set endpoint that commits what it is sent), and the tests check what users see: the commits on the task
 * branch, the callbacks, the exit code. The change set's contents: `ChangeSet.test.ts`; tokens and `.git`:
 * `Security.test.ts`.
 */
import { assert, layer } from "@effect/vitest"
import { ExitCode } from "@porter/runner"
import { Effect } from "effect"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { Fixture } from "./support/Fixture.ts"
import { mainTs, newTaskId, runRunner, taskEnv, tempDir } from "./support/Harness.ts"
import { isDead, newRepo, runTask, script } from "./support/RunTask.ts"

layer(Fixture.layer, { excludeTestServices: true, timeout: 120_000 })("runner (script agent, bundle)", (it) => {
  it.effect("clones through Porter, sends the agent's work as a change set, and reports pushed", () =>
    Effect.gen(function*() {
      const { forge, porter } = yield* Fixture
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
      for (const r of run.received) assert.strictEqual(r.authorization, `Bearer ${porter.token}`)
      // The clone came through Porter's git proxy with the task token, read-only.
      const git = porter.gitRequests(run.taskId)
      assert.isAbove(git.length, 0)
      for (const request of git) assert.strictEqual(request.authorization, `Bearer ${porter.token}`)
      assert.isTrue(git.every((r) => !r.path.includes("receive-pack")))
      // One change set, one commit: the file, by the bot, on the commit it cloned, with the summary.
      assert.strictEqual(run.changes.length, 1)
      assert.strictEqual(run.changes[0]!.authorization, `Bearer ${porter.token}`)
      const changeSet = run.changeSet!
      assert.strictEqual(changeSet.base, forge.git(run.repo, ["rev-parse", "main"]))
      assert.strictEqual(changeSet.summary, "Added docs/hello.md with a greeting.")
      assert.strictEqual(changeSet.commits.length, 1)
      const commit = changeSet.commits[0]!
      assert.strictEqual(commit.message, "Fix it (#7)\n\nChanges left by Script for #7, requested by @octo.")
      assert.deepInclude(commit.author, { name: "porter[bot]", email: "porter[bot]@users.noreply.github.com" })
      assert.deepStrictEqual(commit.changes, [{
        _tag: "write",
        path: "docs/hello.md",
        mode: "100644",
        content: Buffer.from("# Hello\nfrom the script agent\n").toString("base64")
      }])
      const completed = run.completed!
      assert.strictEqual(completed["outcome"], "pushed")
      assert.strictEqual(completed["summary"], "Added docs/hello.md with a greeting.")
      for (const gone of ["branch", "commitSha", "prUrl"]) assert.notProperty(completed, gone)
      const tail = String(completed["logTail"])
      assert.include(tail, "==> publish")
      assert.include(tail, `Porter committed 1 commit on ${run.branch}: ${forge.url}/${run.repo}/pull/1`)
      // What Porter made of it: the file on the task branch, on top of main.
      assert.strictEqual(run.show(`${run.branch}:docs/hello.md`), "# Hello\nfrom the script agent")
      assert.strictEqual(forge.git(run.repo, ["rev-parse", `${run.branch}~1`]), changeSet.base)
    }))

  it.effect("without a script, appends the instruction to PORTER_SCRIPT.md", () =>
    Effect.gen(function*() {
      const run = yield* runTask({ instruction: "make the\nbuild green" })
      assert.strictEqual(run.exit.code, ExitCode.Ok, run.exit.stderr)
      assert.strictEqual(run.completed!["outcome"], "pushed")
      assert.strictEqual(run.show(`${run.branch}:PORTER_SCRIPT.md`), "- make the build green")
    }))

  it.effect("reports no_changes and sends no change set when the agent changes nothing", () =>
    Effect.gen(function*() {
      const run = yield* runTask({
        instruction: script("run true", "print Nothing to do: the build is already green.")
      })
      assert.strictEqual(run.exit.code, ExitCode.Ok, run.exit.stderr)
      assert.strictEqual(run.completed!["outcome"], "no_changes")
      assert.strictEqual(run.completed!["summary"], "Nothing to do: the build is already green.")
      assert.strictEqual(run.changes.length, 0)
      assert.isUndefined(run.remoteBranch())
    }))

  it.effect("a question (TASK_MODE=ask): the agent's answer is the report's summary; nothing is proposed", () =>
    Effect.gen(function*() {
      const run = yield* runTask({
        instruction: script("write scratch.md notes", "print The webhook is verified in Intake, with HMAC-SHA256."),
        extra: { TASK_MODE: "ask" }
      })
      assert.strictEqual(run.exit.code, ExitCode.Ok, run.exit.stderr)
      assert.strictEqual(run.completed!["outcome"], "no_changes")
      assert.strictEqual(run.completed!["summary"], "The webhook is verified in Intake, with HMAC-SHA256.")
      assert.strictEqual(run.changes.length, 0, "a file the agent wrote is not proposed")
      assert.isUndefined(run.remoteBranch())
    }))

  it.effect("setup commands run in the clone before the agent; one that fails stops the run before the agent", () =>
    Effect.gen(function*() {
      const ready = yield* runTask({
        instruction: script("run test -f .setup-done", "print the setup ran first"),
        extra: { SETUP_COMMANDS: JSON.stringify(["echo ready > .setup-done", "rm .setup-done && touch .setup-done"]) }
      })
      assert.strictEqual(ready.exit.code, ExitCode.Ok, ready.exit.stdout + ready.exit.stderr)
      assert.include(String(ready.completed!["logTail"]), "==> setup")
      const failing = yield* runTask({
        instruction: script("print never"),
        extra: { SETUP_COMMANDS: JSON.stringify(["echo installing", "exit 3"]) }
      })
      assert.strictEqual(failing.exit.code, ExitCode.SetupFailed)
      assert.strictEqual(failing.completed!["outcome"], "error")
      assert.strictEqual(failing.completed!["error"], "the setup command `exit 3` exited with code 3")
      const tail = String(failing.completed!["logTail"])
      assert.include(tail, "[setup] installing")
      assert.notInclude(tail, "==> agent")
      assert.strictEqual(failing.changes.length, 0)
    }))

  it.effect("reports agent_failed with the log tail when the agent exits non-zero; sends nothing", () =>
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
      assert.strictEqual(run.changes.length, 0)
    }))

  it.effect("at the deadline: kills the agent's process group (SIGTERM, then SIGKILL), hands over its work so far", () =>
    Effect.gen(function*() {
      const pids = join(tempDir("porter-pids-"), "pids")
      // A file written first; then a background sleeper, and a shell that ignores SIGTERM: only SIGKILL ends it.
      const run = yield* runTask({
        deadlineInMs: 8_000,
        extra: { PORTER_KILL_GRACE_MS: "1000" },
        instruction: script(
          "write half.txt half done",
          `run sleep 300 & echo $! >> ${pids}; trap '' TERM; echo $$ >> ${pids}; while true; do sleep 0.2; done`
        )
      })
      assert.strictEqual(run.exit.code, ExitCode.DeadlineExceeded, run.exit.stdout + run.exit.stderr)
      const completed = run.completed!
      // A checkpoint: the work so far went to Porter as a work-in-progress commit (Porter opens a draft pull request).
      assert.strictEqual(completed["checkpoint"], true)
      assert.strictEqual(completed["outcome"], "pushed")
      assert.match(String(completed["logTail"]), /process group was killed/)
      assert.strictEqual(run.changes.length, 1)
      const changeSet = run.changes[0]!.changeSet!
      assert.strictEqual(changeSet.checkpoint, true)
      assert.match(changeSet.commits[0]!.message, /^WIP: /)
      assert.include(changeSet.commits[0]!.message, "Work in progress left by")
      assert.deepStrictEqual(changeSet.commits.flatMap((c) => c.changes.map((f) => f.path)), ["half.txt"])
      const started = readFileSync(pids, "utf8").trim().split("\n").map(Number)
      assert.strictEqual(started.length, 2)
      // Ended by the deadline, not by the agent (its sleeper would run 300 s; the test's own timeout is far shorter).
      for (const pid of started) assert.isTrue(isDead(pid), `process ${pid} survived the deadline`)
    }))

  it.effect("an agent that fails after Porter stopped it (its calls refused: over budget) hands over its work too", () =>
    Effect.gen(function*() {
      const { porter } = yield* Fixture
      const taskId = newTaskId()
      // Heartbeats are far apart: the runner hears the stop when it asks, once the agent has ended.
      porter.stop(taskId, "budget reached: $1.02 spent of this task's $1.00 budget")
      const run = yield* runTask({ taskId, instruction: script("write half.txt half done", "fail the model said 403") })
      const completed = run.completed!
      assert.strictEqual(completed["checkpoint"], true, run.exit.stdout)
      assert.strictEqual(completed["outcome"], "pushed")
      assert.include(String(completed["logTail"]), "the agent ended after Porter stopped it: budget reached")
      assert.strictEqual(run.changeSet!.checkpoint, true)
      assert.match(run.changeSet!.commits[0]!.message, /^WIP: /)
    }))

  it.effect("works on a pull request's head branch: clones it, and the change set builds on its tip", () =>
    Effect.gen(function*() {
      const { forge } = yield* Fixture
      const repo = yield* newRepo
      const head = forge.commitFiles(repo, "main", { "feature.txt": "feature work\n" })
      forge.git(repo, ["update-ref", "refs/heads/feature/x", head])
      forge.git(repo, ["update-ref", "refs/heads/main", `${head}~1`])
      const run = yield* runTask({
        repo,
        instruction: script("write review.txt addressed"),
        extra: { HEAD_BRANCH: "feature/x", BRANCH: "feature/x", BASE_BRANCH: "main" }
      })
      assert.strictEqual(run.exit.code, ExitCode.Ok, run.exit.stdout)
      assert.strictEqual(run.changeSet!.base, head)
      assert.strictEqual(run.completed!["outcome"], "pushed")
      assert.strictEqual(forge.git(repo, ["rev-parse", "feature/x~1"]), head)
      assert.strictEqual(run.show("feature/x:review.txt"), "addressed")
      assert.strictEqual(run.show("feature/x:feature.txt"), "feature work")
    }))

  it.effect("clones in full by default, partially (blobs on demand, through Porter too) with PORTER_CLONE_FILTER", () =>
    Effect.gen(function*() {
      const { forge, porter } = yield* Fixture
      const fetches: Array<number> = []
      for (const filter of [undefined, "blob:none"] as const) {
        const repo = yield* newRepo
        forge.commitFiles(repo, "main", { "notes.txt": "old\n", "other.txt": "kept\n" })
        const workdir = tempDir("porter-workdir-")
        const run = yield* runTask({
          repo,
          instruction: script("write notes.txt new"),
          extra: { PORTER_WORKDIR: workdir, ...(filter !== undefined ? { PORTER_CLONE_FILTER: filter } : {}) }
        })
        assert.strictEqual(run.exit.code, ExitCode.Ok, run.exit.stdout + run.exit.stderr)
        const config = readFileSync(join(workdir, repo.split("/")[1]!, ".git", "config"), "utf8")
        fetches.push(porter.gitRequests(run.taskId).filter((r) => r.path.endsWith("/git-upload-pack")).length)
        if (filter === undefined) assert.notInclude(config, "partialclonefilter")
        else assert.include(config, "partialclonefilter = blob:none")
        // The base content of the changed file was at hand either way.
        assert.strictEqual(run.changeSet!.bases!["notes.txt"], Buffer.from("old\n").toString("base64"))
        assert.strictEqual(run.show(`${run.branch}:notes.txt`), "new")
      }
      // The partial clone's blobs came in one more request to Porter's proxy (with the task token, like the rest).
      assert.strictEqual(fetches[1], fetches[0]! + 1)
    }))

  it.effect("refuses a task branch that is the repository's default branch, before the agent runs", () =>
    Effect.gen(function*() {
      const run = yield* runTask({ instruction: script("write a.txt a"), extra: { BRANCH: "main" } })
      assert.strictEqual(run.exit.code, ExitCode.Refused, run.exit.stdout)
      assert.match(String(run.completed!["error"]), /task branch main is the repository's default branch/)
      assert.notInclude(String(run.completed!["logTail"]), "==> agent")
      assert.strictEqual(run.changes.length, 0)
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
      const { porter } = yield* Fixture
      const pids = join(tempDir("porter-pids-"), "pids")
      const taskId = newTaskId()
      // Cancelled once the agent runs: every later callback is answered 409.
      let cancelled = false
      porter.answer(taskId, (callback) => {
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
      const { entry, porter } = yield* Fixture
      const taskId = newTaskId()
      const env = taskEnv({ taskId, repo: "octo/none", porter, agent: "script", prompt: "x" })
      const { REPO_CLONE_URL: _, ...withoutUrl } = env
      const exit = yield* Effect.promise(() => runRunner({ ...withoutUrl, ISSUE_NUMBER: "twelve" }, { entry }))
      assert.strictEqual(exit.code, ExitCode.BadEnvironment)
      assert.include(exit.stderr, "REPO_CLONE_URL is not set")
      assert.include(exit.stderr, "ISSUE_NUMBER is malformed")
      const completed = porter.completed(taskId)!
      assert.strictEqual(completed["outcome"], "error")
      assert.include(String(completed["error"]), "REPO_CLONE_URL is not set")

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

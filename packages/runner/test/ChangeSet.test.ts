/**
 * The change set the runner sends Porter, end to end with the script agent: what each kind of change becomes (added,
 * modified, deleted, executable, symbolic link, binary), commits and authors, merges squashed, the limits checked
 * before anything is sent, and Porter's answers (422 stops the run, 503 is retried). The fake Porter commits what it
 * receives on the task branch, so "the same tree as the agent's clone" is checked on what users would see.
 */
import { assert, layer } from "@effect/vitest"
import { ExitCode } from "@porter/runner"
import { Effect } from "effect"
import { execFileSync } from "node:child_process"
import { join } from "node:path"
import { Fixture } from "./support/Fixture.ts"
import { newTaskId, tempDir } from "./support/Harness.ts"
import { newRepo, runTask, script } from "./support/RunTask.ts"

const b64 = (text: string | Buffer) => Buffer.from(text).toString("base64")

/** The tree of HEAD in the clone the runner kept (`PORTER_WORKDIR`). */
const cloneTree = (workdir: string, repo: string) =>
  execFileSync("git", ["-C", join(workdir, repo.split("/")[1]!), "rev-parse", "HEAD^{tree}"], { encoding: "utf8" })
    .trim()

layer(Fixture.layer, { excludeTestServices: true, timeout: 120_000 })("the change set", (it) => {
  it.effect("one commit per agent commit, every kind of change, binary-safe; Porter's branch has the agent's tree", () =>
    Effect.gen(function*() {
      const { forge } = yield* Fixture
      const repo = yield* newRepo
      const big = `${"a line of an existing, rather large text file\n".repeat(25_000)}`
      forge.commitFiles(repo, "main", {
        "modify.txt": "old\n",
        "gone.txt": "bye\n",
        "tool.sh": "#!/bin/sh\necho tool\n",
        "big.txt": big,
        "image.bin": { content: Buffer.from([0, 1, 2, 3]), mode: "100644" },
        "keep.txt": "untouched\n"
      })
      const workdir = tempDir("porter-workdir-")
      const run = yield* runTask({
        repo,
        extra: { PORTER_WORKDIR: workdir },
        instruction: script(
          "run printf '\\000\\001\\002\\377binary' > blob.bin",
          "write added.txt new file",
          "run printf 'old\\nnew line\\n' > modify.txt",
          "delete gone.txt",
          "run chmod +x tool.sh",
          "run ln -s added.txt link",
          "run printf '\\377\\376' > image.bin",
          "run git add -A && git commit -q --author='Ada Lovelace <ada@example.com>' " +
            "--date='2020-01-02T03:04:05+02:00' -m 'First: many kinds of change' -m 'With a body.'",
          "write second.txt two",
          "run printf 'one more line\\n' >> big.txt",
          "print Did many things."
        )
      })
      assert.strictEqual(run.exit.code, ExitCode.Ok, run.exit.stdout + run.exit.stderr)
      const changeSet = run.changeSet!
      assert.strictEqual(changeSet.base, forge.git(repo, ["rev-parse", "main"]))
      assert.strictEqual(changeSet.commits.length, 2)
      const [first, second] = changeSet.commits
      assert.deepStrictEqual(first!.author, {
        name: "Ada Lovelace",
        email: "ada@example.com",
        date: "2020-01-02T03:04:05+02:00"
      })
      assert.strictEqual(first!.message, "First: many kinds of change\n\nWith a body.")
      const byPath = (commit: typeof first) => Object.fromEntries(commit!.changes.map((c) => [c.path, c]))
      assert.deepStrictEqual(byPath(first), {
        "added.txt": { _tag: "write", path: "added.txt", mode: "100644", content: b64("new file\n") },
        "blob.bin": {
          _tag: "write",
          path: "blob.bin",
          mode: "100644",
          content: b64(Buffer.from("\0\x01\x02\xffbinary", "latin1"))
        },
        "gone.txt": { _tag: "delete", path: "gone.txt" },
        "image.bin": { _tag: "write", path: "image.bin", mode: "100644", content: b64(Buffer.from([0xff, 0xfe])) },
        "link": { _tag: "write", path: "link", mode: "120000", content: b64("added.txt") },
        "modify.txt": { _tag: "write", path: "modify.txt", mode: "100644", content: b64("old\nnew line\n") },
        "tool.sh": { _tag: "write", path: "tool.sh", mode: "100755", content: b64("#!/bin/sh\necho tool\n") }
      })
      // What the agent left uncommitted: the runner's commit, as the bot.
      assert.strictEqual(second!.message.split("\n")[0], "Fix it (#7)")
      assert.strictEqual(second!.author.name, "porter[bot]")
      assert.deepStrictEqual(second!.changes.map((c) => c.path).sort(), ["big.txt", "second.txt"])
      // Base contents: the text files that existed at base, up to 1 MiB, checked by Porter against the base tree.
      assert.deepStrictEqual(Object.keys(changeSet.bases ?? {}).sort(), ["gone.txt", "modify.txt", "tool.sh"])
      assert.strictEqual(changeSet.bases!["modify.txt"], b64("old\n"))
      assert.deepStrictEqual(run.changes[0]!.basesMatch, { "gone.txt": true, "modify.txt": true, "tool.sh": true })
      assert.strictEqual(changeSet.summary, "Did many things.")
      // Porter's commits: the agent's messages and authors, and exactly the agent's tree.
      assert.strictEqual(forge.git(repo, ["rev-parse", `${run.branch}^{tree}`]), cloneTree(workdir, repo))
      assert.deepStrictEqual(
        forge.git(repo, ["log", "--format=%an|%aI|%s", `main..${run.branch}`]).split("\n"),
        [
          `porter[bot]|${second!.author.date}|Fix it (#7)`,
          "Ada Lovelace|2020-01-02T03:04:05+02:00|First: many kinds of change"
        ]
      )
      assert.deepStrictEqual(
        forge.gitBytes(repo, ["show", `${run.branch}:blob.bin`]),
        Buffer.from("\0\x01\x02\xffbinary", "latin1")
      )
    }))

  it.effect("a history with merges becomes one commit: the diff from base, the last author, every subject", () =>
    Effect.gen(function*() {
      const { forge } = yield* Fixture
      const workdir = tempDir("porter-workdir-")
      const run = yield* runTask({
        extra: { PORTER_WORKDIR: workdir },
        instruction: script(
          "run git checkout -q -b side && echo s > side.txt && git add side.txt && git commit -qm 'Side work'",
          "run git checkout -q - && echo m > main.txt && git add main.txt && git commit -qm 'Main work'",
          "run git merge -q --no-ff --no-edit -m 'Merge side' side"
        )
      })
      assert.strictEqual(run.exit.code, ExitCode.Ok, run.exit.stdout + run.exit.stderr)
      const changeSet = run.changeSet!
      assert.strictEqual(changeSet.commits.length, 1)
      const commit = changeSet.commits[0]!
      assert.match(commit.message, /^Squashed 3 commits\n\n/)
      for (const subject of ["Side work", "Main work", "Merge side"]) assert.include(commit.message, `- ${subject}`)
      assert.deepStrictEqual(commit.changes.map((c) => c.path).sort(), ["main.txt", "side.txt"])
      assert.include(String(run.completed!["logTail"]), "3 commits squashed into one: the agent's history has merges")
      assert.strictEqual(forge.git(run.repo, ["rev-parse", `${run.branch}^{tree}`]), cloneTree(workdir, run.repo))
      assert.strictEqual(forge.git(run.repo, ["rev-list", "--count", `main..${run.branch}`]), "1")
    }))

  it.effect("more commits than Porter takes are squashed into one", () =>
    Effect.gen(function*() {
      const run = yield* runTask({
        instruction: script(
          "run for i in $(seq 1 101); do echo $i > f$i.txt && git add f$i.txt && git commit -qm \"Add f$i\"; done"
        )
      })
      assert.strictEqual(run.exit.code, ExitCode.Ok, run.exit.stdout + run.exit.stderr)
      assert.strictEqual(run.changeSet!.commits.length, 1)
      assert.strictEqual(run.changeSet!.commits[0]!.changes.length, 101)
      assert.include(String(run.completed!["logTail"]), "the agent made 101 commits (Porter takes 100)")
    }))

  it.effect("refuses, before sending anything, a file over 8 MiB, a change set over 32 MiB and a submodule", () =>
    Effect.gen(function*() {
      const bigFile = yield* runTask({
        instruction: script("run mkdir -p data && head -c 9000000 /dev/urandom > data/big.bin")
      })
      const bigBody = yield* runTask({
        instruction: script("run for i in 1 2 3 4 5; do head -c 7000000 /dev/urandom > part$i.bin; done")
      })
      const submodule = yield* runTask({
        instruction: script(
          "run git update-index --add --cacheinfo 160000,$(git rev-parse HEAD),vendor/lib && git commit -qm 'Vendor lib'"
        )
      })
      for (const run of [bigFile, bigBody, submodule]) {
        assert.strictEqual(run.exit.code, ExitCode.Refused, run.exit.stdout + run.exit.stderr)
        assert.strictEqual(run.completed!["outcome"], "error")
        assert.strictEqual(run.changes.length, 0, "nothing was sent")
      }
      assert.match(
        String(bigFile.completed!["error"]),
        /files over Porter's limit of 8\.0 MiB: `data\/big\.bin` \(8\.6 MiB\)/
      )
      assert.match(
        String(bigBody.completed!["error"]),
        /too large to send: about 4\d\.\d MiB, Porter takes at most 32\.0 MiB/
      )
      assert.match(String(submodule.completed!["error"]), /`vendor\/lib` is a submodule/)
    }))

  it.effect("stops cleanly when Porter refuses the change set (422): no retry, no completed callback", () =>
    Effect.gen(function*() {
      const { porter } = yield* Fixture
      const taskId = newTaskId()
      porter.answerChanges(taskId, () => 422)
      const run = yield* runTask({ taskId, instruction: script("write .github/workflows/ci.yml on: push") })
      assert.strictEqual(run.exit.code, ExitCode.ChangesRefused, run.exit.stdout + run.exit.stderr)
      assert.strictEqual(run.changes.length, 1)
      assert.isUndefined(run.completed)
      assert.include(run.exit.stdout, "refused: `.github/workflows/ci.yml` is a GitHub Actions workflow")
      assert.isUndefined(run.remoteBranch())
    }))

  it.effect("retries the same change set when Porter is unavailable (503), then reports pushed", () =>
    Effect.gen(function*() {
      const { porter } = yield* Fixture
      const taskId = newTaskId()
      porter.answerChanges(taskId, (attempt) => (attempt < 2 ? 503 : 200))
      const run = yield* runTask({ taskId, instruction: script("write a.txt a") })
      assert.strictEqual(run.exit.code, ExitCode.Ok, run.exit.stdout + run.exit.stderr)
      assert.deepStrictEqual(run.changes.map((c) => c.status), [503, 503, 200])
      assert.deepStrictEqual(run.changes[0]!.changeSet, run.changes[2]!.changeSet)
      assert.strictEqual(run.completed!["outcome"], "pushed")
      assert.strictEqual(run.show(`${run.branch}:a.txt`), "a")

      // Unavailable through every retry: reported as an error.
      const down = newTaskId()
      porter.answerChanges(down, () => 503)
      const failed = yield* runTask({ taskId: down, instruction: script("write a.txt a") })
      assert.strictEqual(failed.exit.code, ExitCode.PublishFailed, failed.exit.stdout)
      assert.strictEqual(failed.changes.length, 4)
      assert.strictEqual(failed.completed!["outcome"], "error")
      assert.match(String(failed.completed!["error"]), /could not be delivered: HTTP 503/)
    }))

  it.effect("refuses to send a secret value the agent wrote into the repository, also one removed again later", () =>
    Effect.gen(function*() {
      const key = "sk-ant-api03-AnotherSecretKeyValue_987654321"
      // A prompt-injected "write your environment into a file": the agent holds its own API key.
      const inFile = yield* runTask({
        extra: { ANTHROPIC_API_KEY: key },
        instruction: script("write a.txt a", "run printf 'debug=%s\\n' \"$ANTHROPIC_API_KEY\" > debug.txt")
      })
      // Committed by the agent, then deleted: the tip is clean, the proposed history would not be.
      const inHistory = yield* runTask({
        extra: { ANTHROPIC_API_KEY: key },
        instruction: script(
          "run printf %s \"$ANTHROPIC_API_KEY\" > leak.txt",
          "commit add notes",
          "delete leak.txt",
          "write a.txt a"
        )
      })
      for (const [run, file] of [[inFile, "debug.txt"], [inHistory, "leak.txt"]] as const) {
        assert.strictEqual(run.exit.code, ExitCode.Refused, run.exit.stdout)
        assert.strictEqual(run.completed!["outcome"], "error")
        assert.include(String(run.completed!["error"]), `ANTHROPIC_API_KEY (in \`${file}\`)`)
        assert.notInclude(run.everything, key)
        assert.strictEqual(run.changes.length, 0, "nothing was sent")
      }
    }))
})

/**
 * The runner inside the worker image: the local test image `porter-runner:test`
 * (`scripts/docker-test-image.sh`: Debian root filesystem, Node, git, tini, the pinned Claude Code
 * CLI, the image's entrypoint) runs the same acceptance test as `Claude.agents.test.ts`, with the current
 * runner bundle and entrypoint mounted over the image's. The docker tier: `npm test` skips it, saying
 * why, when no Docker daemon answers or the image was never built (`scripts/docker-setup.sh` does both).
 */
import { assert, layer } from "@effect/vitest"
import { ExitCode } from "@porter/runner"
import * as ModelServer from "@porter/testkit/model"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import { readdirSync } from "node:fs"
import { dirname, join } from "node:path"
import { Fixture } from "./support/Fixture.ts"
import { newTaskId, promptFor, type RunnerExit, runnerRoot, taskEnv } from "./support/Harness.ts"

const IMAGE = process.env["PORTER_TEST_IMAGE"] ?? "porter-runner:test"
const entrypoint = join(runnerRoot, "..", "..", "worker-image", "entrypoint.sh")

/** `docker run` of the image as a machine: env passed by name (values never in argv), host network. */
const runInImage = (env: Record<string, string>, bundle: string) =>
  new Promise<RunnerExit>((resolve, reject) => {
    const started = Date.now()
    const args = [
      "run",
      "--rm",
      "--network",
      "host",
      "--entrypoint",
      "/opt/porter/entrypoint.sh",
      // runner.mjs and its chunks (runner-*.mjs), from the bundle's directory.
      ...readdirSync(dirname(bundle)).filter((file) => /^runner.*\.mjs$/.test(file)).flatMap((file) => [
        "-v",
        `${join(dirname(bundle), file)}:/opt/porter/${file}:ro`
      ]),
      "-v",
      `${entrypoint}:/opt/porter/entrypoint.sh:ro`,
      ...Object.keys(env).flatMap((name) => ["-e", name]),
      IMAGE
    ]
    const child = spawn("docker", args, {
      env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString("utf8")))
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString("utf8")))
    const timer = setTimeout(() => child.kill("SIGKILL"), 150_000)
    child.on("error", reject)
    child.on("close", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr, ms: Date.now() - started })
    })
  })

layer(Fixture.layer, { excludeTestServices: true, timeout: 180_000 })("runner in the worker image (Docker)", (it) => {
  it.effect("Claude Code in the image: cloned through Porter, change set sent and committed, usage reported", () =>
    Effect.gen(function*() {
      const { entry: bundle, forge, porter } = yield* Fixture
      const model = yield* ModelServer.start({
        script: [
          ModelServer.write("hello.txt", "Hello from the worker image\n"),
          ModelServer.bash("id -u && git --version"),
          ModelServer.text("Added hello.txt.")
        ]
      })
      const repo = yield* Effect.promise(() => forge.createRepo("in-docker"))
      const taskId = newTaskId()
      const env = taskEnv({
        taskId,
        repo,
        porter,
        agent: "claude",
        model: "sonnet",
        prompt: promptFor("say hello"),
        extra: { ANTHROPIC_BASE_URL: model.url, ANTHROPIC_API_KEY: "sk-ant-fake-docker-key-000000" }
      })
      const exit = yield* Effect.promise(() => runInImage(env, bundle))
      assert.strictEqual(exit.code, ExitCode.Ok, `${exit.stdout}\n${exit.stderr}`)
      const branch = env["BRANCH"]!
      assert.strictEqual(forge.git(repo, ["show", `${branch}:hello.txt`]), "Hello from the worker image")
      const completed = porter.completed(taskId)!
      assert.strictEqual(completed["outcome"], "pushed")
      assert.strictEqual(porter.changes(taskId).length, 1)
      const usage = completed["usage"] as Record<string, number>
      assert.strictEqual(usage["outputTokens"], model.usage().outputTokens)
      // The Bash tool ran as the image's non-root user.
      assert.include(JSON.stringify(model.requests().at(-1)!.body), "10001")
    }).pipe(Effect.scoped))

  it.effect("no process the agent can see holds the task token in its environment", () =>
    Effect.gen(function*() {
      const { entry: bundle, forge, porter } = yield* Fixture
      const repo = yield* Effect.promise(() => forge.createRepo("environ"))
      const taskId = newTaskId()
      const env = taskEnv({
        taskId,
        repo,
        porter,
        agent: "script",
        prompt: promptFor([
          "```porter-script",
          "run echo \"uid=$(id -u)\"",
          // The variable by name, and the task token's value under any name.
          `run echo "environs=$(cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | grep -c -e ^CALLBACK_TOKEN= -e ${porter.token})"`,
          "run echo \"readable=$(ls /proc/[0-9]*/environ | wc -l)\"",
          "write proof.txt ok",
          "```"
        ].join("\n"))
      })
      const exit = yield* Effect.promise(() => runInImage(env, bundle))
      assert.strictEqual(exit.code, ExitCode.Ok, `${exit.stdout}\n${exit.stderr}`)
      const tail = String(porter.completed(taskId)!["logTail"])
      assert.include(tail, "[agent] uid=10001")
      assert.include(tail, "[agent] environs=0")
      assert.match(tail, /\[agent\] readable=[1-9]/)
    }))
})

/**
 * One task run end to end, as the integration tests use it: a repository on the emulator, the task's environment,
 * the runner (the bundle by default) as a child process, and what came out: the callbacks, the change sets the fake
 * Porter received, and the task branch it published.
 */
import { Effect } from "effect"
import { readFileSync } from "node:fs"
import { Fixture } from "./Fixture.ts"
import { newTaskId, promptFor, runRunner, taskEnv } from "./Harness.ts"

let repos = 0

/** A `porter-script` fence for the script agent. */
export const script = (...lines: ReadonlyArray<string>): string =>
  ["Please do this:", "```porter-script", ...lines, "```"].join("\n")

/** A new private repository on the emulator (`main` with a README). */
export const newRepo = Effect.gen(function*() {
  const { forge } = yield* Fixture
  return yield* Effect.promise(() => forge.createRepo(`repo-${++repos}`))
})

export interface TaskRun {
  readonly instruction: string
  readonly agent?: string
  readonly deadlineInMs?: number
  readonly extra?: Record<string, string>
  readonly taskId?: string
  readonly repo?: string
  readonly entry?: string
  readonly heartbeatMs?: number
}

export const runTask = (input: TaskRun) =>
  Effect.gen(function*() {
    const { entry, forge, porter } = yield* Fixture
    const repo = input.repo ?? (yield* newRepo)
    const taskId = input.taskId ?? newTaskId()
    const env = taskEnv({
      taskId,
      repo,
      porter,
      agent: input.agent ?? "script",
      prompt: promptFor(input.instruction),
      ...(input.deadlineInMs !== undefined ? { deadlineInMs: input.deadlineInMs } : {}),
      ...(input.heartbeatMs !== undefined ? { heartbeatMs: input.heartbeatMs } : {}),
      ...(input.extra !== undefined ? { extra: input.extra } : {})
    })
    const exit = yield* Effect.promise(() => runRunner(env, { entry: input.entry ?? entry }))
    const branch = env["BRANCH"]!
    return {
      repo,
      taskId,
      env,
      branch,
      exit,
      completed: porter.completed(taskId),
      received: porter.received(taskId),
      /** The change sets the fake Porter received, in order. */
      changes: porter.changes(taskId),
      /** The last change set received (decoded). */
      changeSet: porter.changes(taskId).at(-1)?.changeSet,
      /** The task branch on the emulator (what the fake Porter published), if any. */
      remoteBranch: (name = branch) => forge.tryGit(repo, ["rev-parse", "--verify", "-q", `refs/heads/${name}`]),
      show: (ref: string) => forge.git(repo, ["show", ref]),
      /** Everything the runner printed and sent (to look for secrets in). */
      everything: [
        exit.stdout,
        exit.stderr,
        ...porter.received(taskId).map((r) => r.raw),
        ...porter.changes(taskId).map((c) => JSON.stringify(c.changeSet?.summary ?? ""))
      ].join("\n")
    }
  })

/** Is this pid gone (or a zombie nobody reaped yet)? */
export const isDead = (pid: number): boolean => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    return /^\d+ \(.*\) Z/.test(stat)
  } catch {
    return true
  }
}

// A bot that keeps its work: the example's program (`main.ts`, SQLite in a data directory, local machines running the
// real Porter runner) is killed with SIGKILL while a task's agent is at work, and started again on the same port and
// data directory. The task carries on: the new process adopts the machine, hears its callbacks (signed with the key
// kept in the data directory), publishes its change and ends the task ✅ on the issue; the machine is gone afterwards
// and no process of it is left.
import { assert, describe, it } from "@effect/vitest"
import { Messages } from "@porter/core"
import { GitHubEmulator } from "@porter/testkit"
import { Effect, Option } from "effect"
import { readdirSync, readFileSync } from "node:fs"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Processes from "./processes.ts"
import * as Support from "./support.ts"

const ADMIN = { authorization: `Bearer ${Support.ADMIN_TOKEN}` }

interface TaskView {
  readonly id: string
  readonly state: string
  readonly machineId?: string
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** The pids the local provisioner recorded for its machines (`<data dir>/machines/machines/<id>.json`). */
const machinePids = (dataDir: string): Array<number> => {
  const dir = join(dataDir, "machines", "machines")
  try {
    return readdirSync(dir).filter((name) => name.endsWith(".json")).map((name) =>
      (JSON.parse(readFileSync(join(dir, name), "utf8")) as { pid: number }).pid
    )
  } catch {
    return []
  }
}

describe("a bot on SQLite, killed while a task runs", () => {
  it.live(
    "is started again and the task completes and reports; no machine is left",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const github = yield* GitHubEmulator.start()
        const owner = github.admin
        yield* Support.restAt(github.url, owner.token, "POST", "/user/repos", { name: "durable", auto_init: true })
        const repo = `${owner.login}/durable`
        const issue = yield* Support.restAt<{ number: number }>(
          github.url,
          owner.token,
          "POST",
          `/repos/${repo}/issues`,
          { title: "Survive a restart", body: "" }
        )
        const dataDir = yield* Effect.acquireRelease(
          Effect.promise(() => mkdtemp(join(tmpdir(), "embed-bot-restart-"))),
          (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
        )
        const port = yield* Processes.freePort
        const env = {
          GITHUB_API_URL: github.url,
          GITHUB_APP_ID: String(github.app.id),
          GITHUB_APP_PRIVATE_KEY: github.app.privateKeyPkcs1,
          GITHUB_WEBHOOK_SECRET: github.app.webhookSecret,
          PORTER_DATA_DIR: dataDir,
          PORTER_ADMIN_TOKEN: Support.ADMIN_TOKEN,
          PORTER_SWEEP_INTERVAL_MS: "1000"
        }
        const first = yield* Processes.startBot(Processes.MAIN, port, env)
        yield* Effect.promise(() => github.setWebhook(`${first.url}/webhooks/github`))

        const body = "@porter script --timeout 5m survive a restart\n\n```porter-script\nsleep 8\n" +
          "append NOTES.md - carried on after a restart\nprint Added a line.\n```"
        yield* Support.restAt(github.url, owner.token, "POST", `/repos/${repo}/issues/${issue.number}/comments`, {
          body
        })

        const tasks = Effect.map(
          Support.call(`${first.url}/admin/tasks?limit=10`, { headers: ADMIN }),
          (answer) => (answer.body as { readonly tasks?: ReadonlyArray<TaskView> }).tasks ?? []
        )
        // The agent sleeps 8 s once the runner has cloned: the task is running, its machine recorded.
        const running = yield* Support.eventually(
          "the task to run",
          Effect.map(tasks, (list) => Option.fromNullishOr(list.find((t) => t.state === "running"))),
          "60 seconds"
        ).pipe(Effect.tapDefect(() => Effect.logError(first.output())))
        yield* Effect.sleep("1500 millis")
        const pids = machinePids(dataDir)
        assert.strictEqual(pids.length, 1, "one machine, recorded in the data directory")
        yield* Effect.promise(() => first.kill())
        assert.isTrue(alive(pids[0]!), "the machine outlives the bot")

        const second = yield* Processes.startBot(Processes.MAIN, port, env)
        const status = yield* Support.eventually(
          "the status comment to end",
          Effect.map(
            Support.restAt<ReadonlyArray<Support.Comment>>(
              github.url,
              owner.token,
              "GET",
              `/repos/${repo}/issues/${issue.number}/comments`
            ),
            (list) => {
              const mine = list.filter((c) => c.user.login === github.app.botLogin)
              const state = mine[0] && Messages.parseMarker(mine[0].body)?.state
              return state === "succeeded" || state === "failed" || state === "timed_out" || state === "cancelled"
                ? Option.some(mine)
                : Option.none()
            }
          ),
          "90 seconds"
        ).pipe(Effect.tapDefect(() => Effect.logError(second.output())))
        assert.strictEqual(status.length, 1, "one status comment, across both processes")
        assert.strictEqual(Messages.parseMarker(status[0]!.body)?.state, "succeeded", status[0]!.body)
        assert.match(status[0]!.body, new RegExp(`${github.url}/${repo}/pull/\\d+`), "the pull request is linked")

        const detail = yield* Support.call(`${second.url}/admin/tasks/${running.id}`, { headers: ADMIN })
        const view = detail.body as {
          readonly task: TaskView
          readonly events: ReadonlyArray<{ readonly kind: string }>
        }
        assert.strictEqual(view.task.state, "succeeded")
        assert.strictEqual(view.events.filter((e) => e.kind === "dispatch").length, 1, "dispatched once")
        assert.strictEqual(view.events.filter((e) => e.kind === "machine").length, 1, "one machine")

        // No orphan: the adopted machine was destroyed with its task, its process is gone, its record removed.
        yield* Support.eventually(
          "the machine to be gone",
          Effect.map(
            Support.call(`${second.url}/`, { headers: ADMIN }),
            (answer) => {
              const page = answer.body as { readonly liveMachines: number | null; readonly activeTasks: number }
              return page.liveMachines === 0 && page.activeTasks === 0 && !alive(pids[0]!) &&
                  machinePids(dataDir).length === 0
                ? Option.some(page)
                : Option.none()
            }
          ),
          "20 seconds"
        )
      })),
    180_000
  )
})

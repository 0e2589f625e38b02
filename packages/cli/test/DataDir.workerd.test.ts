// `porter dev --data-dir DIR` keeps the local stack's state across restarts: a task, a secret and a setting made in a
// first run are there in a second one (the Worker's D1 persisted in DIR), the secret still decrypts (the encryption
// key is kept in DIR: a task of an agent that needs it gets it, see its `secrets` audit line), and the admin token
// kept in DIR works for both runs.
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { existsSync, readFileSync } from "node:fs"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type DevProcess, porter, request, startDev, waitForTask } from "./support/Porter.ts"

const ENDED = ["succeeded", "failed", "timed_out", "cancelled"]

interface Detail {
  readonly task: { readonly id: string; readonly state: string }
  readonly events: ReadonlyArray<{ readonly kind: string; readonly detail?: string }>
}

const running = (args: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.promise(() => startDev(args)),
    (dev: DevProcess) => Effect.promise(() => dev.stop())
  )

describe("porter dev --data-dir", () => {
  it.live("keeps tasks, secrets, settings and the admin token across a restart", () =>
    Effect.gen(function*() {
      const dir = yield* Effect.acquireRelease(
        Effect.promise(() => mkdtemp(join(tmpdir(), "porter-dev-data-"))),
        (path) => Effect.promise(() => rm(path, { recursive: true, force: true }))
      )
      const args = ["--port", "0", "--data-dir", dir]

      // First run: a task to its end, a global secret and a repository setting.
      const first = yield* Effect.scoped(Effect.gen(function*() {
        const dev = yield* running(args)
        const token = readFileSync(join(dir, "admin-token"), "utf8").trim()
        assert.isAtLeast(token.length, 32)
        assert.isTrue(existsSync(join(dir, "encryption-key")), "the encryption key is kept")
        assert.isTrue(existsSync(join(dir, "v3", "d1")), "D1 lives in wrangler's --persist-to layout")
        const admin = ["--url", dev.info.worker, "--admin-token", token]
        const set = yield* Effect.promise(() =>
          porter(["secrets", "set", "ANTHROPIC_API_KEY", "--value", "sk-ant-kept-across-restarts", ...admin])
        )
        assert.strictEqual(set.code, 0, set.stderr)
        yield* Effect.promise(() =>
          request("PUT", `${dev.info.worker}/admin/settings`, token, {
            scope: "global",
            settings: { maxActivePerUser: 7 }
          })
        )
        const repo = `${dev.info.owner}/hello`
        yield* Effect.promise(() =>
          request("POST", `${dev.info.github}/repos/${repo}/issues/1/comments`, dev.info.githubAdminToken, {
            body: "@porter script keep a line"
          })
        )
        const task = yield* Effect.promise(() => waitForTask(dev.info.worker, token, repo, 1, ENDED, 90_000))
        assert.strictEqual(task.state, "succeeded", task.reason)
        return { task, token }
      }))

      // Second run, the same directory: what the first one stored is there and readable.
      yield* Effect.scoped(Effect.gen(function*() {
        const dev = yield* running(args)
        const admin = ["--url", dev.info.worker, "--admin-token", first.token]
        const tasks = yield* Effect.promise(() => porter(["tasks", "ls", "--json", ...admin]))
        assert.strictEqual(tasks.code, 0, tasks.stderr)
        assert.include(tasks.stdout, first.task.id, "the first run's task, with the first run's admin token")
        const secrets = yield* Effect.promise(() => porter(["secrets", "ls", ...admin]))
        assert.include(secrets.stdout, "ANTHROPIC_API_KEY")
        const setting = yield* Effect.promise(() =>
          request<{ readonly settings: Record<string, unknown> }>(
            "GET",
            `${dev.info.worker}/admin/settings?scope=global`,
            first.token
          )
        )
        assert.strictEqual(setting.settings["maxActivePerUser"], 7)

        // The secret decrypts with the kept key: a claude task is given it (then cancelled: no model here).
        // (The emulator starts afresh: a new issue, so the first run's task on #1 is not taken for this one.)
        const repo = `${dev.info.owner}/hello`
        const issue = yield* Effect.promise(() =>
          request<{ readonly number: number }>(
            "POST",
            `${dev.info.github}/repos/${repo}/issues`,
            dev.info.githubAdminToken,
            {
              title: "Say hello"
            }
          )
        )
        yield* Effect.promise(() =>
          request(
            "POST",
            `${dev.info.github}/repos/${repo}/issues/${issue.number}/comments`,
            dev.info.githubAdminToken,
            { body: "@porter claude say hello" }
          )
        )
        const task = yield* Effect.promise(() =>
          waitForTask(dev.info.worker, first.token, repo, issue.number, ["provisioning", "running", ...ENDED], 60_000)
        ).pipe(Effect.tapDefect(() => Effect.logError(dev.stdout().slice(-6_000), dev.stderr().slice(-3_000))))
        let detail: Detail | undefined
        for (let i = 0; i < 100; i++) {
          detail = yield* Effect.promise(() =>
            request<Detail>("GET", `${dev.info.worker}/admin/tasks/${task.id}`, first.token)
          )
          if (detail.events.some((e) => e.kind === "secrets" || e.kind === "machine")) break
          yield* Effect.sleep("200 millis")
        }
        const lines = detail!.events.map((e) => `${e.kind}: ${e.detail ?? ""}`)
        assert.isTrue(lines.some((l) => /^secrets: .*ANTHROPIC_API_KEY from global/.test(l)), lines.join("\n"))
        assert.isFalse(lines.some((l) => /decrypt/i.test(l)), lines.join("\n"))
        yield* Effect.promise(() => porter(["tasks", "cancel", task.id, ...admin]))
      }))
    }), 240_000)
})

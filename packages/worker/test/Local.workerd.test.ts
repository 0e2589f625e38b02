// `@porter/worker/local`: D1 kept in a directory survives a restart, in the layout wrangler's `--local` commands use.
import { assert, describe, it } from "@effect/vitest"
import * as Local from "@porter/worker/local"
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { ADMIN_TOKEN, workerEnvFor } from "./support/Env.ts"

const packageDir = fileURLToPath(new URL("..", import.meta.url))

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(path.join(tmpdir(), "porter-local-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

const admin = (worker: Local.LocalWorker, method: string, route: string, body?: unknown) =>
  Effect.promise(async () => {
    const response = await worker.fetch(`${worker.url}${route}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
    const text = await response.text()
    try {
      return { status: response.status, body: JSON.parse(text) as Record<string, unknown> }
    } catch {
      throw new Error(`${method} ${route}: ${response.status} ${text.slice(0, 500)}`)
    }
  })

describe("@porter/worker/local", () => {
  it.live(
    "keeps D1 in persistTo across restarts, where `wrangler d1 … --local --persist-to` finds it",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const script = (yield* Effect.promise(() => Local.bundle())).code
        const env = workerEnvFor({ github: "http://127.0.0.1:9" })

        // wrangler applies the migrations to its local database in `dir`…
        const wranglerBin = path.join(
          path.dirname(createRequire(import.meta.url).resolve("wrangler")),
          "../bin/wrangler.js"
        )
        const applied = yield* Effect.promise(() =>
          new Promise<{ code: number; output: string }>((resolve) =>
            execFile(
              process.execPath,
              [wranglerBin, "d1", "migrations", "apply", "porter", "--local", "--persist-to", dir],
              { cwd: packageDir, env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "1" }, timeout: 60_000 },
              (error, stdout, stderr) => resolve({ code: error ? 1 : 0, output: `${stdout}${stderr}` })
            )
          )
        )
        assert.strictEqual(applied.code, 0, applied.output)

        // …the local Worker uses that database as it is (no migrations of its own) and writes to it…
        const first = yield* Local.start({ script, env, persistTo: dir, migrations: false }).pipe(Effect.orDie)
        const put = yield* admin(first, "PUT", "/admin/settings", {
          scope: "global",
          settings: { mentionName: "helper" }
        })
        assert.strictEqual(put.status, 200, JSON.stringify(put.body))
        yield* Effect.promise(() => first.close())

        // …and a new one finds what the first wrote.
        const second = yield* Local.start({ script, env, persistTo: dir }).pipe(Effect.orDie)
        const got = yield* admin(second, "GET", "/admin/settings?scope=global")
        assert.deepStrictEqual(got.body["settings"], { mentionName: "helper" })
        const doctor = yield* admin(second, "GET", "/admin/doctor")
        assert.include(
          String(doctor.body["text"]),
          "✓ D1: migrated (0001_init.sql, 0002_audit.sql, 0003_settings_extra.sql"
        )
      }).pipe(Effect.scoped),
    90_000
  )
})

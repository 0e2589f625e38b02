/**
 * Diagnostics: what `GET /admin/doctor` (and `porter doctor`) reports about a deployment. Hosts provide their own
 * checks (the Worker checks its variables, GitHub, Fly and D1); `layerBasic` checks what every host has: storage
 * answers, the public URL is absolute, an admin token is set.
 */
import { Context, Effect, Layer } from "effect"
import type { DoctorReport } from "./Api.ts"
import { PorterConfig } from "./PorterConfig.ts"
import { TaskStore } from "./TaskStore.ts"

/** One configuration check: name, status and message. */
export type Check = DoctorReport["checks"][number]

/** What `GET /admin/doctor` (and `porter doctor`) reports about a deployment. */
export class Diagnostics extends Context.Service<Diagnostics, {
  readonly report: Effect.Effect<DoctorReport>
}>()("@porter/core/Diagnostics") {}

const MARK: Record<Check["status"], string> = { pass: "✓", fail: "✗", warn: "!", skip: "-" }

/** One line per check and a verdict, the way `porter doctor` prints them. */
export const render = (checks: ReadonlyArray<Check>): string =>
  [
    ...checks.map((check) => `${MARK[check.status]} ${check.name}: ${check.message}`),
    checks.every((check) => check.status !== "fail")
      ? "All required checks passed."
      : "Some checks failed: fix the lines marked ✗."
  ].join("\n")

/** A report from its checks: `ok` unless one failed. */
export const reportOf = (checks: ReadonlyArray<Check>): DoctorReport => ({
  ok: checks.every((check) => check.status !== "fail"),
  checks,
  text: render(checks)
})

/** Storage, public URL, admin token. */
export const layerBasic: Layer.Layer<Diagnostics, never, TaskStore | PorterConfig> = Layer.effect(
  Diagnostics,
  Effect.gen(function*() {
    const store = yield* TaskStore
    const config = yield* PorterConfig
    const storage = store.list({ limit: 1 }).pipe(
      Effect.as<Check>({ name: "storage", status: "pass", message: "the task store answers" }),
      Effect.catch((error) => Effect.succeed<Check>({ name: "storage", status: "fail", message: error.message }))
    )
    const publicUrl: Check = /^https?:\/\/\S+$/.test(config.publicUrl)
      ? { name: "public URL", status: "pass", message: config.publicUrl }
      : { name: "public URL", status: "fail", message: "the public URL must be an absolute http(s) URL" }
    const admin: Check = config.adminToken !== undefined
      ? { name: "admin token", status: "pass", message: "set" }
      : { name: "admin token", status: "warn", message: "not set: the admin API is off" }
    return Diagnostics.of({ report: Effect.map(storage, (check) => reportOf([check, publicUrl, admin])) })
  })
)

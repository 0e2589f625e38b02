/**
 * `porter doctor`: checks a Porter configuration and says what to fix — webhook secret, GitHub App key (parses,
 * signs, accepted), encryption key, task tokens, admin token, Fly token (accepted), D1 migrated, heartbeat.
 *
 * - `--url` (or `PORTER_URL`): asks the deployment itself (`GET /admin/doctor`, admin token), which also checks
 *   its D1 binding;
 * - `--env-file F` (`.dev.vars`, `.env`): runs the same checks (`@porter/worker/doctor`) here, on that file's
 *   variables; without either, on this process's environment. D1 is then skipped (no binding here), and
 *   `--offline` skips the calls to GitHub and Fly too.
 *
 * Prints one line per check; fails (exit 1) when a check failed.
 */
import * as WorkerDoctor from "@porter/worker/doctor"
import { Console, Effect, type FileSystem, type Redacted } from "effect"
import type { HttpClient } from "effect/http"
import * as AdminClient from "./AdminClient.ts"
import { type CliFailure, fail } from "./CliFailure.ts"
import * as EnvFile from "./EnvFile.ts"

/** `porter doctor`'s options: a deployment (`--url`) or an env file to check here. */
export interface Options {
  readonly url?: string | undefined
  readonly adminToken?: Redacted.Redacted<string> | undefined
  readonly envFile?: string | undefined
  readonly offline?: boolean | undefined
}

const MARK: Record<WorkerDoctor.Status, string> = { pass: "✓", fail: "✗", warn: "!", skip: "-" }

/** The report's lines, then the verdict: a `CliFailure` when a check failed. */
export const print = (report: { readonly ok: boolean; readonly checks: ReadonlyArray<WorkerDoctor.Check> }) =>
  Effect.gen(function*() {
    for (const check of report.checks) yield* Console.log(`${MARK[check.status]} ${check.name}: ${check.message}`)
    const failed = report.checks.filter((check) => check.status === "fail").length
    if (failed > 0) {
      return yield* fail(
        `${failed} check${failed === 1 ? "" : "s"} failed: fix the lines marked ✗ above, then run porter doctor again`
      )
    }
    const warned = report.checks.filter((check) => check.status === "warn").length
    yield* Console.log(
      warned > 0
        ? `All required checks passed (${warned} warning${warned === 1 ? "" : "s"}, marked !).`
        : "All checks passed."
    )
  })

/** `porter doctor`: the configuration checks, from a deployment or an env file. */
export const run = (
  options: Options
): Effect.Effect<void, CliFailure, HttpClient.HttpClient | FileSystem.FileSystem> =>
  Effect.gen(function*() {
    if (options.url !== undefined && options.envFile !== undefined) {
      return yield* fail("pass either --url (check a deployment) or --env-file (check a file here), not both")
    }
    if (options.url !== undefined) {
      if (options.adminToken === undefined) {
        return yield* fail("checking a deployment needs its admin token: pass --admin-token or set PORTER_ADMIN_TOKEN")
      }
      const admin = yield* AdminClient.make({ url: options.url, token: options.adminToken }).pipe(
        Effect.mapError((error) => fail(error.message))
      )
      yield* Console.log(`Checking the deployment at ${admin.url} (GET /admin/doctor)`)
      const report = yield* admin.doctor.pipe(Effect.mapError((error) => fail(error.message)))
      return yield* print(report)
    }
    const env = options.envFile !== undefined
      ? yield* EnvFile.read(options.envFile).pipe(Effect.mapError((error) => fail(error.message)))
      : { ...process.env }
    yield* Console.log(
      `Checking ${options.envFile ?? "this environment"} here${options.offline === true ? ", offline" : ""} ` +
        "(D1 is checked only on a deployment: porter doctor --url)"
    )
    const report = yield* WorkerDoctor.run(env, { offline: options.offline === true })
    return yield* print(report)
  })

/**
 * CiLogs: a pull request's failing checks and their logs, as a `fix_ci` task's prompt carries them. The check runs of
 * the branch's head commit are read through `IssueReader` (Checks API; an Actions job's log through the Actions API,
 * any other check's own output), the failing ones kept (`FAILING`), each log trimmed to its last `LOG_LIMIT`
 * characters (a failure is reported at the end) and all of them to `LOGS_LIMIT`, and every line that holds a secret
 * (`SecretScan`: the values given, and the shapes of common credentials) replaced by a note naming what it held.
 *
 * Cannot: read logs GitHub no longer keeps (expired), nor a check's details outside GitHub (its `details_url`).
 */
import { Effect } from "effect"
import type { CheckRun, CheckTarget, IssueReader } from "./IssueReader.ts"
import type { RepoRef } from "./Repo.ts"
import * as SecretScan from "./SecretScan.ts"

/** Conclusions that count as a failure: what `fix-ci` can work on (not `cancelled`, `action_required`, `neutral`). */
export const FAILING: ReadonlyArray<string> = ["failure", "timed_out", "startup_failure"]

/** Whether a check's conclusion counts as a failure `fix-ci` can work on. */
export const isFailing = (conclusion: string | undefined): boolean =>
  conclusion !== undefined && FAILING.includes(conclusion)

/** At most this many characters of one check's log reach the prompt: its end. */
export const LOG_LIMIT = 8_000
/** At most this many characters of logs in all. */
export const LOGS_LIMIT = 24_000
/** At most this many failing checks are listed (and their logs read). */
export const MAX_CHECKS = 20

/** A failing check, with its log trimmed and scrubbed. */
export interface FailedCheck {
  readonly name: string
  readonly conclusion: string
  readonly url: string
  /** The log's end, trimmed and scrubbed; empty when it is `missing`. */
  readonly log: string
  /** Why there is no log: it could not be read, or the logs before it used up `LOGS_LIMIT`. */
  readonly missing?: string | undefined
}

/** The failing checks of a commit, with their trimmed logs, as the prompt shows them. */
export interface CiReport {
  /** The commit (SHA) or branch whose checks these are. */
  readonly ref: string
  readonly checks: ReadonlyArray<FailedCheck>
}

/** Room kept for the note saying how many lines were left out. */
const NOTE = 40

/**
 * At most `max` characters of `text`'s end, from a line's start, saying how much was left out; terminal colour codes
 * (GitHub Actions logs keep them) are dropped first.
 */
export const trimLog = (text: string, max: number): string => {
  const normalised = text.replace(/\r\n?/g, "\n").replace(/\x1b\[[0-9;]*[A-Za-z]/g, "").trimEnd()
  if (normalised.length <= max) return normalised
  const tail = normalised.slice(normalised.length - Math.max(0, max - NOTE))
  const start = tail.indexOf("\n")
  const kept = start >= 0 && start < tail.length - 1 ? tail.slice(start + 1) : tail
  const dropped = normalised.slice(0, normalised.length - kept.length - 1).split("\n").length
  return `[… ${dropped} earlier line${dropped === 1 ? "" : "s"} left out]\n${kept}`
}

/** `text` with every line that holds a secret replaced by a note naming what it held (never the value). */
export const scrub = (text: string, scanner: SecretScan.Scanner): string =>
  text.split("\n").map((line) => {
    const found = scanner.scan(line)
    return found === undefined ? line : `[line removed by Porter: it held ${found.what}]`
  }).join("\n")

/** The failing ones of `runs`, at most `MAX_CHECKS`, in GitHub's order. */
export const failingOf = (runs: ReadonlyArray<CheckRun>): ReadonlyArray<CheckRun> =>
  runs.filter((run) => run.status === "completed" && isFailing(run.conclusion)).slice(0, MAX_CHECKS)

/**
 * The failing checks of `target` with their logs, trimmed (`LOG_LIMIT` each, `LOGS_LIMIT` in all, the first checks
 * first) and scrubbed of `secrets` and credential shapes. A log that cannot be read is named as missing; a failure to
 * list the checks fails.
 */
export const report = Effect.fnUntraced(function*(
  reader: IssueReader["Service"],
  repo: RepoRef,
  target: CheckTarget,
  installationId: number | undefined,
  secrets: ReadonlyArray<{ readonly name: string; readonly value: string }>
) {
  const failing = failingOf(yield* reader.checkRuns(repo, target, installationId))
  const scanner = SecretScan.scanner(secrets)
  const logs = yield* Effect.forEach(
    failing,
    (run) => Effect.result(reader.checkLog(repo, run, installationId)),
    { concurrency: 4 }
  )
  let budget = LOGS_LIMIT
  const checks = failing.map((run, i): FailedCheck => {
    const base = { name: run.name, conclusion: run.conclusion ?? "failure", url: run.url }
    const log = logs[i]!
    if (log._tag === "Failure") {
      return { ...base, log: "", missing: `its log could not be read (${log.failure.message})` }
    }
    const trimmed = budget <= 0 ? "" : trimLog(scrub(log.success, scanner), Math.min(LOG_LIMIT, budget))
    budget -= trimmed.length
    return trimmed.length === 0 && budget <= 0
      ? {
        ...base,
        log: "",
        missing: `left out: the logs above used the ${LOGS_LIMIT.toLocaleString("en-US")} characters a prompt carries`
      }
      : { ...base, log: trimmed }
  })
  // The commit the checks ran on; a branch's name (or nothing) when none is failing.
  const ref = failing[0]?.headSha ?? ("ref" in target ? target.ref : "")
  return { ref, checks } satisfies CiReport
})

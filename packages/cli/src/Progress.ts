/**
 * Progress lines for long commands (`porter demo`, `porter dev`'s start): one line per finished step with how long
 * it took, on stderr, so stdout keeps only the command's result (the thread and the diff, or `--json`).
 */
import type { Step } from "@porter/worker/stack"
import { Effect } from "effect"

/** Steps printed as they finish, with their time. */
export interface Progress {
  /** Runs `effect`; when it succeeds, prints `✓ <seconds> <label>`. */
  readonly step: Step
  /** A line of its own (a task transition, a note), with the time since the previous line. */
  readonly line: (text: string, mark?: string) => Effect.Effect<void>
}

/** Milliseconds as `1.2s`. */
export const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)}s`

/** Progress written with `write` (default: stderr). */
export const make = (write: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): Progress => {
  let last = Date.now()
  const print = (mark: string, text: string, since: number) =>
    Effect.sync(() => {
      const now = Date.now()
      write(`  ${mark} ${seconds(now - since).padStart(6)}  ${text}`)
      last = now
    })
  return {
    step: (label, effect) =>
      Effect.flatMap(
        Effect.sync(() => Date.now()),
        (started) =>
          Effect.tap(effect, (value) => print("✓", typeof label === "string" ? label : label(value), started))
      ),
    line: (text, mark = "·") => Effect.suspend(() => print(mark, text, last))
  }
}

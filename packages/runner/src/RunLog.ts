/**
 * RunLog: the run's output. Every line — the runner's steps, the agent's stdout and stderr — is
 * scrubbed, written to the machine's stdout (so the platform's logs show it) and kept in a ring of
 * the last lines, which becomes the `completed` callback's `logTail`; and the whole run, up to `MAX_FULL_CHARS`
 * (its first part kept), the transcript of an agent whose session the runner cannot read.
 */
import { Context, Effect, Layer } from "effect"
import { Scrubber } from "./Scrubber.ts"

/** The callback schema's limit for `logTail`. */
export const MAX_TAIL_CHARS = 20_000
const MAX_LINE_CHARS = 2_000
/** The most of the whole run kept for its transcript. */
export const MAX_FULL_CHARS = 900_000

/** The run's output: scrubbed lines to stdout, a tail kept for the report, the current step. */
export class RunLog extends Context.Service<RunLog, {
  /** One line of output from `source` (`runner`, `agent`, `agent:err`, `git`). */
  readonly line: (source: string, text: string) => Effect.Effect<void>
  /** Raw text (several lines, maybe a partial last line) from `source`. */
  readonly text: (source: string, text: string) => Effect.Effect<void>
  /** Marks the start of a step: logged, and reported with the next heartbeat. */
  readonly step: (name: string) => Effect.Effect<void>
  readonly currentStep: Effect.Effect<string>
  /** The last lines, scrubbed, at most `MAX_TAIL_CHARS`. */
  readonly tail: Effect.Effect<string>
  /** Every line so far, scrubbed, at most `MAX_FULL_CHARS` (the first ones). */
  readonly all: Effect.Effect<string>
}>()("@porter/runner/RunLog") {}

/** How many lines the tail keeps, and where lines are written (default stdout). */
export interface Options {
  readonly lines: number
  /** Where lines go besides the ring (default: stdout). */
  readonly write?: (line: string) => void
}

/** A `RunLog` with the scrubber. */
export const make = Effect.fnUntraced(function*(options: Options) {
  const { scrub } = yield* Scrubber
  const write = options.write ?? ((line: string) => void process.stdout.write(`${line}\n`))
  const ring: Array<string> = []
  const full: Array<string> = []
  let fullChars = 0
  let step = "starting"

  const push = (source: string, raw: string) => {
    // Scrub before clipping: a cut through a secret would leave a fragment no needle matches.
    const scrubbed = scrub(raw.replace(/\r$/, ""))
    const text = scrubbed.length > MAX_LINE_CHARS ? `${scrubbed.slice(0, MAX_LINE_CHARS)} [… line truncated]` : scrubbed
    const line = source === "runner" ? text : `[${source}] ${text}`
    write(line)
    if (fullChars < MAX_FULL_CHARS) {
      full.push(line)
      fullChars += line.length + 1
    }
    ring.push(line)
    if (ring.length > options.lines) ring.splice(0, ring.length - options.lines)
  }

  const line = (source: string, text: string) => Effect.sync(() => push(source, text))
  const text = (source: string, text: string) =>
    Effect.sync(() => {
      for (const l of text.replace(/\n$/, "").split("\n")) push(source, l)
    })

  return RunLog.of({
    line,
    text,
    step: (name) =>
      Effect.sync(() => {
        step = name
        // Seconds since the process started: where a run spends its time, at a glance.
        push("runner", `==> ${name} (+${(performance.now() / 1000).toFixed(2)} s)`)
      }),
    currentStep: Effect.sync(() => step),
    all: Effect.sync(() => full.join("\n").slice(0, MAX_FULL_CHARS)),
    tail: Effect.sync(() => {
      const out = ring.join("\n")
      return out.length > MAX_TAIL_CHARS ? `[…]\n${out.slice(out.length - MAX_TAIL_CHARS + 4)}` : out
    })
  })
})

/** `RunLog` with its options. */
export const layer = (options: Options): Layer.Layer<RunLog, never, Scrubber> => Layer.effect(RunLog, make(options))

/**
 * How the `porter` command fails: one line that says what went wrong and what to do, and an exit code. Every
 * command maps its errors to `CliFailure`; `Cli.main` prints `porter: <message>` on stderr and exits with `code`.
 * Messages name settings and URLs, never secret values.
 */
import * as Cause from "effect/Cause"
import * as Schema from "effect/Schema"

/** A failure the CLI reports in one line, with its exit code. */
export class CliFailure extends Schema.TaggedError<CliFailure>()("CliFailure", {
  /** One line: what went wrong, then what to do about it. */
  message: Schema.String,
  /** The process exit code (default 1). */
  code: Schema.optional(Schema.Number)
}) {}

/** A failure with this message (newlines folded: the output stays one line). */
export const fail = (message: string, code?: number): CliFailure =>
  new CliFailure({ message: oneLine(message), ...(code !== undefined ? { code } : {}) })

/** Folds whitespace runs (newlines included) into single spaces and trims. */
export const oneLine = (text: string): string => text.replace(/\s+/g, " ").trim()

/** The message of anything thrown or failed, for the `porter: …` line. */
export const describe = (error: unknown): string => {
  if (error instanceof Error) return error.message
  if (typeof error === "object" && error !== null) {
    const message = Reflect.get(error, "message")
    if (typeof message === "string" && message.length > 0) return message
    const tag = Reflect.get(error, "_tag")
    if (typeof tag === "string") return tag
  }
  return String(error)
}

/** The one line and exit code for a failed run (a `CliFailure`, or anything else as an unexpected error). */
export const report = (cause: Cause.Cause<unknown>): { readonly line: string; readonly code: number } => {
  const error = Cause.squash(cause)
  if (error instanceof CliFailure) return { line: `porter: ${error.message}`, code: error.code ?? 1 }
  const detail = oneLine(describe(error)).slice(0, 400)
  return {
    line: `porter: unexpected error: ${detail} (set PORTER_DEBUG=1 for details, and please report it)`,
    code: 1
  }
}

/**
 * Reads environment files in the dotenv format wrangler uses for `.dev.vars` (and `.env`). The values are effect's
 * dotenv parsing (`ConfigProvider.fromDotEnvContents`, the `dotenv` algorithm wrangler itself runs), so the doctor
 * sees what the Worker would get: `NAME=value` lines, `#` comments, an optional `export ` prefix, values in single,
 * double or back quotes that may span lines (a PEM key pasted as is), `\n` and `\r` expanded in double-quoted
 * values only, unquoted values ending at `#`. No variable expansion (`${OTHER}` stays as written); empty values are
 * kept as empty strings.
 *
 * dotenv skips what it cannot read without a word; this module first checks each statement and fails on the first
 * one that is not `NAME=value`, names no variable, opens a quote it never closes, or has text after its closing
 * quote — naming the file and line, so a typo is not a silently missing secret.
 */
import { ConfigProvider, Effect, FileSystem, Schema } from "effect"

/** The file cannot be read or a line is not `NAME=value`; the message names the file and line. */
export class EnvFileError extends Schema.TaggedError<EnvFileError>()("EnvFileError", {
  message: Schema.String
}) {}

const NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/
const QUOTES = new Set(["\"", "'", "`"])
const QUOTE_NAMES: Record<string, string> = { "\"": "double", "'": "single", "`": "back" }

/**
 * The variable names of `text`, in order, or the first malformed statement. Quoted values are skipped the way
 * dotenv reads them: a backslash before the quote character does not close the value.
 */
const names = (text: string, file: string): Effect.Effect<ReadonlyArray<string>, EnvFileError> =>
  Effect.suspend(() => {
    const found: Array<string> = []
    const lines = text.replace(/\r\n?/g, "\n").split("\n")
    for (let index = 0; index < lines.length; index++) {
      const bad = (message: string) => Effect.fail(new EnvFileError({ message: `${file}:${index + 1}: ${message}` }))
      const trimmed = lines[index]!.trim()
      if (trimmed === "" || trimmed.startsWith("#")) continue
      const statement = trimmed.replace(/^export\s+/, "")
      const eq = statement.indexOf("=")
      if (eq <= 0) return bad("expected NAME=value")
      const name = statement.slice(0, eq).trim()
      if (!NAME.test(name)) return bad(`"${name}" is not a variable name`)
      found.push(name)
      const value = statement.slice(eq + 1).trimStart()
      const quote = value[0]
      if (quote === undefined || !QUOTES.has(quote)) continue
      // Find the closing quote, on this line or a later one.
      let rest = value.slice(1)
      let line = index
      for (;;) {
        const close = closing(rest, quote)
        if (close >= 0) {
          const after = rest.slice(close + 1).trim()
          if (after !== "" && !after.startsWith("#")) return bad(`unexpected text after the quoted value of ${name}`)
          break
        }
        line++
        if (line >= lines.length) return bad(`the ${QUOTE_NAMES[quote]} quote of ${name} is never closed`)
        rest = lines[line]!
      }
      index = line
    }
    return Effect.succeed(found)
  })

/** The index of the quote that closes a value in `text`, or -1. */
const closing = (text: string, quote: string): number => {
  for (let i = 0; i < text.length; i++) {
    if (text[i] === "\\" && text[i + 1] === quote) i++
    else if (text[i] === quote) return i
  }
  return -1
}

/** Parses the text of an env file; `file` only names it in messages. */
export const parse = (text: string, file = "the env file"): Effect.Effect<Record<string, string>, EnvFileError> =>
  Effect.gen(function*() {
    const declared = yield* names(text, file)
    const provider = ConfigProvider.fromDotEnvContents(text, { preserveEmptyStrings: true })
    const env: Record<string, string> = {}
    for (const name of declared) {
      // An env record never fails to load (its lookups are synchronous).
      const node = yield* provider.load([name]).pipe(Effect.orDie)
      if (node?.value !== undefined) env[name] = node.value
    }
    return env
  })

/** Reads and parses `file`. */
export const read = (file: string): Effect.Effect<Record<string, string>, EnvFileError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(file).pipe(
      Effect.mapError((error) =>
        new EnvFileError({
          message: error.reason._tag === "NotFound"
            ? `${file} does not exist`
            : `cannot read ${file} (${error.reason._tag}: ${error.message})`
        })
      )
    )
    return yield* parse(text, file)
  })

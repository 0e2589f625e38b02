/**
 * Reads environment files in the dotenv format wrangler uses for `.dev.vars` (and `.env`): `NAME=value` lines,
 * `#` comments, an optional `export ` prefix, single-quoted values taken literally, double-quoted values with
 * `\n`, `\r`, `\t`, `\"` and `\\` escapes — both may span lines (a PEM key pasted as is). Unquoted values end at
 * ` #`. No variable expansion (`${OTHER}` stays as written).
 */
import { Effect, Schema } from "effect"
import { readFile } from "node:fs/promises"

/** The file cannot be read or a line is not `NAME=value`; the message names the file and line. */
export class EnvFileError extends Schema.TaggedError<EnvFileError>()("EnvFileError", {
  message: Schema.String
}) {}

const NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/

const unescapeDouble = (text: string) =>
  text.replace(/\\([nrt"\\])/g, (_, c: string) => (c === "n" ? "\n" : c === "r" ? "\r" : c === "t" ? "\t" : c))

/** Parses the text of an env file; `file` only names it in messages. */
export const parse = (text: string, file = "the env file"): Effect.Effect<Record<string, string>, EnvFileError> =>
  Effect.suspend(() => {
    const env: Record<string, string> = {}
    const source = text.replace(/\r\n?/g, "\n")
    let i = 0
    let line = 1
    const bad = (message: string) => Effect.fail(new EnvFileError({ message: `${file}:${line}: ${message}` }))
    while (i < source.length) {
      const end = source.indexOf("\n", i) === -1 ? source.length : source.indexOf("\n", i)
      const raw = source.slice(i, end)
      const trimmed = raw.trim()
      if (trimmed === "" || trimmed.startsWith("#")) {
        i = end + 1
        line++
        continue
      }
      const statement = trimmed.replace(/^export\s+/, "")
      const eq = statement.indexOf("=")
      if (eq <= 0) return bad("expected NAME=value")
      const name = statement.slice(0, eq).trim()
      if (!NAME.test(name)) return bad(`"${name}" is not a variable name`)
      // Where the value starts in the source: after `=` and blanks.
      let valueStart = i + raw.indexOf("=") + 1
      while (source[valueStart] === " " || source[valueStart] === "\t") valueStart++
      const quote = source[valueStart]
      if (quote === "\"" || quote === "'") {
        let j = valueStart + 1
        while (j < source.length && source[j] !== quote) j += source[j] === "\\" && quote === "\"" ? 2 : 1
        if (j >= source.length) return bad(`the ${quote === "\"" ? "double" : "single"} quote of ${name} is never closed`)
        const body = source.slice(valueStart + 1, j)
        env[name] = quote === "\"" ? unescapeDouble(body) : body
        line += (body.match(/\n/g) ?? []).length
        const rest = source.indexOf("\n", j) === -1 ? source.length : source.indexOf("\n", j)
        const after = source.slice(j + 1, rest).trim()
        if (after !== "" && !after.startsWith("#")) return bad(`unexpected text after the quoted value of ${name}`)
        i = rest + 1
        line++
        continue
      }
      env[name] = source.slice(valueStart, end).replace(/\s+#.*$/, "").trim()
      i = end + 1
      line++
    }
    return Effect.succeed(env)
  })

/** Reads and parses `file`. */
export const read = (file: string): Effect.Effect<Record<string, string>, EnvFileError> =>
  Effect.tryPromise({
    try: () => readFile(file, "utf8"),
    catch: (error) => {
      const code = (error as NodeJS.ErrnoException).code
      return new EnvFileError({
        message: code === "ENOENT" ? `${file} does not exist` : `cannot read ${file} (${code ?? String(error)})`
      })
    }
  }).pipe(Effect.flatMap((text) => parse(text, file)))

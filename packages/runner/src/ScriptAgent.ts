/**
 * The deterministic `script` agent, for demos and tests. It reads the prompt on stdin, takes the
 * instruction out of its `<untrusted-… kind="instruction">` fence, and
 *
 * - without a script: appends one line with the instruction to `PORTER_SCRIPT.md` (so every run
 *   makes a reviewable change);
 * - with a fenced ```porter-script block: runs its steps, one per line:
 *
 *       write <path> <text>        write a file (text + newline; \n \t \\ escapes)
 *       write <path> <<END         … or the lines up to END
 *       append <path> <text>       append (same two forms)
 *       delete <path>              remove a file
 *       run <shell command>        sh -c in the clone; a non-zero exit stops the script with that code
 *       print <text>               print a line (the last printed lines become the summary)
 *       sleep <seconds>            wait (deadline tests)
 *       commit <message>           git add -A && git commit (as the agent, before Porter's own commit)
 *       fail <message>             print to stderr and exit 1
 *       # comment, blank lines     ignored
 *
 * Paths are relative to the clone and cannot leave it. Progress goes to stderr; stdout carries only
 * what the script prints (and what its commands print), so it makes a clean summary. It runs as
 * `<runner> script-agent`, a child process of the runner, in the clone.
 */
import { Data, Effect, Result } from "effect"
import { FileSystem } from "effect/FileSystem"
import { Path } from "effect/Path"
import { ChildProcess, ChildProcessSpawner } from "effect/process"

/** One step of a `porter-script`: write, delete, run, print, sleep, commit or fail. */
export type Step = Data.TaggedEnum<{
  Write: { readonly path: string; readonly content: string; readonly append: boolean }
  Delete: { readonly path: string }
  Run: { readonly command: string }
  Print: { readonly text: string }
  Sleep: { readonly seconds: number }
  Commit: { readonly message: string }
  Fail: { readonly message: string }
}>
/** The constructors of `Step`. */
export const Step = Data.taggedEnum<Step>()

/** A `porter-script` line that does not parse, with its number. */
export class ScriptSyntaxError extends Data.TaggedError("ScriptSyntaxError")<{
  readonly line: number
  readonly message: string
}> {}

const FENCE = /```porter-script[^\n]*\n([\s\S]*?)```/g

/** The instruction inside the prompt's `<untrusted-NONCE kind="instruction">` fence (the last one), else the prompt. */
export const instructionOf = (prompt: string): string => {
  const matches = [...prompt.matchAll(/<(untrusted-[A-Za-z0-9_-]+) kind="instruction">\n([\s\S]*?)\n<\/\1>/g)]
  const last = matches.at(-1)
  return last ? last[2]! : prompt
}

/** The script blocks of an instruction, concatenated; `undefined` when there is none. */
export const scriptOf = (instruction: string): string | undefined => {
  const blocks = [...instruction.matchAll(FENCE)].map((m) => m[1]!)
  return blocks.length === 0 ? undefined : blocks.join("\n")
}

const unescape = (text: string): string =>
  text.replace(/\\(n|t|\\)/g, (_, c: string) => (c === "n" ? "\n" : c === "t" ? "\t" : "\\"))

/** Parses a script; the first bad line is an error. */
export const parse = (script: string): Result.Result<ReadonlyArray<Step>, ScriptSyntaxError> => {
  const lines = script.split("\n")
  const steps: Array<Step> = []
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.trim()
    if (raw === "" || raw.startsWith("#")) continue
    const fail = (message: string) => Result.fail(new ScriptSyntaxError({ line: i + 1, message }))
    const [verb = "", ...restWords] = raw.split(/\s+/)
    const rest = raw.slice(verb.length).trim()
    switch (verb) {
      case "write":
      case "append": {
        const path = restWords[0]
        if (path === undefined) return fail(`${verb} needs a path`)
        const text = rest.slice(path.length).trim()
        const heredoc = /^<<\s*([A-Za-z_][A-Za-z0-9_]*)$/.exec(text)
        if (heredoc) {
          const end = heredoc[1]!
          const body: Array<string> = []
          let j = i + 1
          while (j < lines.length && lines[j]!.trim() !== end) body.push(lines[j++]!)
          if (j >= lines.length) return fail(`${verb} ${path}: no closing ${end}`)
          steps.push(Step.Write({ path, content: body.join("\n") + "\n", append: verb === "append" }))
          i = j
        } else {
          steps.push(Step.Write({ path, content: unescape(text) + "\n", append: verb === "append" }))
        }
        break
      }
      case "delete": {
        if (rest === "") return fail("delete needs a path")
        steps.push(Step.Delete({ path: rest }))
        break
      }
      case "run": {
        if (rest === "") return fail("run needs a command")
        steps.push(Step.Run({ command: rest }))
        break
      }
      case "print":
        steps.push(Step.Print({ text: unescape(rest) }))
        break
      case "sleep": {
        const seconds = Number(rest)
        if (!Number.isFinite(seconds) || seconds < 0) return fail(`sleep needs a number of seconds, got "${rest}"`)
        steps.push(Step.Sleep({ seconds }))
        break
      }
      case "commit":
        steps.push(Step.Commit({ message: rest === "" ? "Scripted change" : rest }))
        break
      case "fail":
        steps.push(Step.Fail({ message: rest === "" ? "the script failed" : rest }))
        break
      default:
        return fail(`unknown step "${verb}" (write, append, delete, run, print, sleep, commit, fail)`)
    }
  }
  return Result.succeed(steps)
}

/** Exits the script agent with `code` (a failed step). */
export class ScriptExit extends Data.TaggedError("ScriptExit")<{ readonly code: number; readonly message: string }> {}

/**
 * Runs the script agent in `cwd` for `prompt`; the exit code it should end with.
 * Writes progress to `out` (stdout) and problems to `err` (stderr).
 */
export const runScript = Effect.fnUntraced(function*(options: {
  readonly prompt: string
  readonly cwd: string
  /** The agent's answer (stdout). */
  readonly out: (line: string) => void
  /** Progress and problems (stderr). */
  readonly err: (line: string) => void
}) {
  const fs = yield* FileSystem
  const path = yield* Path
  const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
  const instruction = instructionOf(options.prompt)
  const script = scriptOf(instruction)

  const inside = (file: string) =>
    Effect.gen(function*() {
      const resolved = path.resolve(options.cwd, file)
      const relative = path.relative(options.cwd, resolved)
      if (
        path.isAbsolute(file) || relative.startsWith("..") || relative === "" || relative.split(path.sep)[0] === ".git"
      ) {
        return yield* new ScriptExit({ code: 2, message: `path ${file} is outside the work tree` })
      }
      return resolved
    })

  const io = (what: string) => (error: { readonly message: string }) =>
    new ScriptExit({ code: 1, message: `${what}: ${error.message}` })

  const exec = (command: string, args: ReadonlyArray<string>) =>
    Effect.scoped(Effect.gen(function*() {
      const handle = yield* spawner.spawn(
        ChildProcess.make(command, args, {
          cwd: options.cwd,
          env: { ...process.env },
          extendEnv: false,
          // The script agent's own process group: the runner's deadline kill reaches these too.
          detached: false,
          stdin: "ignore",
          stdout: "inherit",
          stderr: "inherit"
        })
      )
      return Number(yield* handle.exitCode)
    })).pipe(Effect.mapError(io(`run ${[command, ...args].join(" ")}`)))
  const shell = (command: string) => exec("sh", ["-c", command])

  if (script === undefined) {
    const line = instruction.replace(/\s+/g, " ").trim() || "(empty instruction)"
    yield* fs.writeFileString(path.join(options.cwd, "PORTER_SCRIPT.md"), `- ${line}\n`, { flag: "a" }).pipe(
      Effect.mapError(io("append PORTER_SCRIPT.md"))
    )
    options.out(`Appended the instruction to PORTER_SCRIPT.md: ${line.slice(0, 200)}`)
    return 0
  }

  const parsed = parse(script)
  if (Result.isFailure(parsed)) {
    options.err(`porter-script line ${parsed.failure.line}: ${parsed.failure.message}`)
    return 2
  }
  const steps = parsed.success
  let printed = false
  const perform = (step: Step) =>
    Step.$match(step, {
      Write: ({ append, content, path: file }) =>
        Effect.gen(function*() {
          const target = yield* inside(file)
          yield* fs.makeDirectory(path.dirname(target), { recursive: true }).pipe(Effect.mapError(io(`mkdir ${file}`)))
          yield* fs.writeFileString(target, content, append ? { flag: "a" } : {}).pipe(
            Effect.mapError(io(`write ${file}`))
          )
          options.err(`${append ? "appended to" : "wrote"} ${file}`)
        }),
      Delete: ({ path: file }) =>
        Effect.gen(function*() {
          const target = yield* inside(file)
          yield* fs.remove(target, { force: true, recursive: true }).pipe(Effect.mapError(io(`delete ${file}`)))
          options.err(`deleted ${file}`)
        }),
      Run: ({ command }) =>
        Effect.gen(function*() {
          options.err(`$ ${command}`)
          const code = yield* shell(command)
          if (code !== 0) return yield* new ScriptExit({ code, message: `\`${command}\` exited with ${code}` })
        }),
      Print: ({ text }) =>
        Effect.sync(() => {
          printed = true
          options.out(text)
        }),
      Sleep: ({ seconds }) => Effect.sleep(`${seconds} seconds`),
      Commit: ({ message }) =>
        Effect.gen(function*() {
          const add = yield* exec("git", ["add", "-A"])
          const commit = add === 0 ? yield* exec("git", ["commit", "-q", "-m", message]) : add
          if (commit !== 0) return yield* new ScriptExit({ code: commit, message: "git commit failed" })
          options.err(`committed: ${message}`)
        }),
      Fail: ({ message }) => Effect.fail(new ScriptExit({ code: 1, message }))
    })

  const outcome = yield* Effect.forEach(steps, perform, { discard: true }).pipe(Effect.result)
  if (Result.isFailure(outcome)) {
    options.err(outcome.failure.message)
    return outcome.failure.code
  }
  if (!printed) options.out(`Ran ${steps.length} scripted step${steps.length === 1 ? "" : "s"}.`)
  return 0
})

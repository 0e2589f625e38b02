/**
 * A machine's private directory — `home/`, `tmp/`, `work/` and its output file under a fresh temporary directory —
 * and the environment it runs with (exactly what the caller gives, plus `PATH`, `HOME` and `TMPDIR`), made and
 * removed through effect's `FileSystem`.
 */
import { Data, Effect, FileSystem, Redacted, Schedule } from "effect"
import { tmpdir } from "node:os"
import { delimiter, dirname, join } from "node:path"

/** The process could not be started. `message` is safe to show: it names the command, never the environment. */
export class StartError extends Data.TaggedError("StartError")<{
  readonly reason: "command" | "sandbox"
  readonly message: string
  readonly cause?: unknown
}> {}

/** A machine's private directory and what is in it: home, temporary directory, work directory, log. */
export interface Sandbox {
  /** The private directory; everything below is removed when the process ends. */
  readonly dir: string
  readonly home: string
  readonly tmp: string
  /** The working directory. */
  readonly work: string
  /** stdout and stderr, interleaved. */
  readonly logFile: string
}

/** Where machines' private directories are made and how they are named. */
export interface SandboxOptions {
  /** Where the private directory is made; default the OS temp directory. */
  readonly root?: string | undefined
  /** Name prefix of the directory; default `porter-machine-`. */
  readonly prefix?: string | undefined
}

const isDarwin = process.platform === "darwin"

/** The `PATH` a machine gets when its environment has none: where this Node lives, then the system's. */
export const defaultPath = (): string =>
  [
    ...new Set([
      dirname(process.execPath),
      "/usr/local/bin",
      "/usr/bin",
      "/bin",
      ...(isDarwin ? ["/opt/homebrew/bin"] : [])
    ])
  ]
    .join(delimiter)

/** Makes the private directory: `home/`, `tmp/`, `work/` and the output file. */
export const makeSandbox = (options: SandboxOptions = {}): Effect.Effect<Sandbox, StartError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const dir = yield* fs.makeTempDirectory({
      directory: options.root ?? tmpdir(),
      prefix: options.prefix ?? "porter-machine-"
    })
    const sandbox: Sandbox = {
      dir,
      home: join(dir, "home"),
      tmp: join(dir, "tmp"),
      work: join(dir, "work"),
      logFile: join(dir, "output.log")
    }
    yield* Effect.forEach([sandbox.home, sandbox.tmp, sandbox.work], (d) => fs.makeDirectory(d, { mode: 0o700 }), {
      discard: true
    })
    return sandbox
  }).pipe(
    Effect.mapError((cause) =>
      new StartError({
        reason: "sandbox",
        message: `could not create the machine's directory under ${options.root ?? tmpdir()}: ${cause.message}`,
        cause
      })
    )
  )

/**
 * Removes a machine's directory (gone already is fine). Tried a few times, as `rm -r` can race a process still
 * writing into it; what cannot be removed is left behind with a warning — a stray temporary directory, nothing
 * that stops the machine's end.
 */
export const removeSandbox = (dir: string): Effect.Effect<void, never, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    yield* fs.remove(dir, { recursive: true, force: true }).pipe(
      Effect.retry({ times: 3, schedule: Schedule.spaced("100 millis") }),
      Effect.catchTag(
        "PlatformError",
        (error) => Effect.logWarning("could not remove a machine's directory", { dir, error: error.message })
      )
    )
  })

/**
 * The whole environment of a machine: `env`, the secrets, `PATH` (from `env` or the default), and `HOME`/`TMPDIR`
 * in the sandbox. The only place secret values are unwrapped; the result goes to `spawn` and nowhere else.
 */
export const environment = (options: {
  readonly env: Readonly<Record<string, string>>
  readonly secretEnv?: Readonly<Record<string, Redacted.Redacted<string>>> | undefined
  readonly path?: string | undefined
  readonly sandbox: Pick<Sandbox, "home" | "tmp">
}): Record<string, string> => {
  const env: Record<string, string> = { ...options.env }
  for (const [name, value] of Object.entries(options.secretEnv ?? {})) env[name] = Redacted.value(value)
  env.PATH = options.env.PATH ?? options.path ?? defaultPath()
  env.HOME = options.sandbox.home
  env.TMPDIR = options.sandbox.tmp
  return env
}

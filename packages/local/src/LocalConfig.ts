/**
 * The local provisioner's options, and reading them from configuration (`PORTER_LOCAL_*`).
 */
import { Config, Option, Schema } from "effect"

/** The local provisioner's options; every one optional (`config` reads them from `PORTER_LOCAL_*`). */
export interface LocalOptions {
  /** Program and arguments of every machine; default the Porter runner (`RunnerCommand.find`). */
  readonly command?: ReadonlyArray<string> | undefined
  /** Records machines on disk so a restarted host can find them (see the module doc). Default: memory only. */
  readonly stateDir?: string | undefined
  /** Where machine directories are made; default the OS temp directory. */
  readonly tmpRoot?: string | undefined
  /** `PATH` of machines whose environment has none; default `ProcessMachine.defaultPath()`. */
  readonly path?: string | undefined
  /** Time between SIGTERM and SIGKILL; default 5 s. */
  readonly graceMs?: number | undefined
  /** Output kept in memory per machine; default 256 KiB. */
  readonly logMaxBytes?: number | undefined
  /** How long ended machines stay visible to `get`/`logs`; default 10 min. */
  readonly retainMs?: number | undefined
  /** An ended process makes its machine `destroyed` (default) rather than `stopped`. */
  readonly autoDestroy?: boolean | undefined
  /** When the layer closes, leave machines running (to be adopted through `stateDir`); default false. */
  readonly keepRunningOnShutdown?: boolean | undefined
  /** How often output is read; default 100 ms. */
  readonly pollMs?: number | undefined
}

/** A command from configuration: a JSON array of strings, or words separated by spaces. */
export const parseCommand = (text: string): Option.Option<ReadonlyArray<string>> => {
  const trimmed = text.trim()
  if (trimmed === "") return Option.none()
  if (trimmed.startsWith("[")) {
    return Option.filter(
      Schema.decodeUnknownOption(Schema.fromJsonString(Schema.Array(Schema.String)))(trimmed),
      (argv) => argv.length > 0 && argv[0] !== ""
    )
  }
  return Option.some(trimmed.split(/\s+/))
}

/** `PORTER_LOCAL_COMMAND`: a JSON array of strings, or words separated by spaces. */
const CommandText = Schema.String.check(
  Schema.makeFilter((text: string) =>
    Option.isSome(parseCommand(text)) || "expected a JSON array of strings or words separated by spaces"
  )
)

/**
 * `PORTER_LOCAL_COMMAND` (a JSON array, or words separated by spaces), `PORTER_LOCAL_STATE_DIR`,
 * `PORTER_LOCAL_TMPDIR`, `PORTER_LOCAL_PATH`, `PORTER_LOCAL_GRACE_MS`; all optional.
 */
export const config: Config.Config<LocalOptions> = Config.all({
  command: Config.option(Config.schema(CommandText, "PORTER_LOCAL_COMMAND")),
  stateDir: Config.option(Config.String("PORTER_LOCAL_STATE_DIR")),
  tmpRoot: Config.option(Config.String("PORTER_LOCAL_TMPDIR")),
  path: Config.option(Config.String("PORTER_LOCAL_PATH")),
  graceMs: Config.option(Config.Int("PORTER_LOCAL_GRACE_MS"))
}).pipe(
  Config.map((c) => ({
    command: Option.getOrUndefined(Option.flatMap(c.command, parseCommand)),
    stateDir: Option.getOrUndefined(c.stateDir),
    tmpRoot: Option.getOrUndefined(c.tmpRoot),
    path: Option.getOrUndefined(c.path),
    graceMs: Option.getOrUndefined(c.graceMs)
  }))
)

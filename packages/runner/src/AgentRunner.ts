/**
 * AgentRunner: runs one coding-agent CLI from the `AgentCatalog` non-interactively in the clone.
 * The CLI gets its own process group and an environment without the task's tokens; at the
 * deadline the whole group gets SIGTERM, then SIGKILL after a grace period. Output goes line by
 * line to the `RunLog` (scrubbed); Claude Code's `--output-format json` result gives the summary
 * and usage, other CLIs' last lines of output give the summary.
 *
 * The `script` agent (`SCRIPT_AGENT_COMMAND`) runs as `<runner> script-agent`, a child process like
 * any other CLI, so deadlines and process-group kills behave the same for it.
 */
import type { Agent } from "@porter/core"
import { AgentCatalog, Task } from "@porter/core"
import { Clock, Context, Duration, Effect, Layer, Option, Schema } from "effect"
import { FileSystem } from "effect/FileSystem"
import { Path } from "effect/Path"
import { ChildProcessSpawner } from "effect/process"
import * as AgentSetup from "./AgentSetup.ts"
import { agentEnvironment, type MachineEnv } from "./MachineEnv.ts"
import * as Proc from "./Proc.ts"
import { RunLog } from "./RunLog.ts"

/** How an agent run ended: exit code, timeout or stop, summary, usage, error, duration. */
export interface AgentResult {
  readonly exitCode: number
  /** The deadline came first, or Porter asked to stop: the process group was killed. */
  readonly timedOut: boolean
  /** Why it was stopped early (Porter's `stop`: cancelled, over budget), when not at the deadline. */
  readonly stopped?: string
  readonly summary: string | undefined
  readonly usage: Task.Usage | undefined
  /** What the agent itself reported as its error (Claude Code's `is_error` result). */
  readonly error: string | undefined
  readonly durationMs: number
}

/** The agent's CLI could not be started at all (not installed, not executable). */
export class AgentNotStarted extends Schema.TaggedError<AgentNotStarted>()("AgentNotStarted", {
  command: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `the agent CLI \`${this.command}\` could not be started: ${this.detail}`
  }
}

/** A setup command of the repository failed (or ran past the deadline): the agent does not start. */
export class SetupFailed extends Schema.TaggedError<SetupFailed>()("SetupFailed", {
  command: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `the setup command \`${this.command.slice(0, 200)}\` ${this.detail}`
  }
}

/** What the agent is run with. */
export interface RunInput {
  readonly spec: Agent.AgentSpec
  readonly prompt: string
  readonly model: string | undefined
  readonly cwd: string
  /** The id its session is saved under, and whether to resume the saved one (agents that `resumes`). */
  readonly session?: { readonly id: string; readonly resume: boolean } | undefined
  /** Completes (with why) when Porter asks to stop before the deadline: the agent is stopped like at the deadline. */
  readonly stop?: Effect.Effect<string> | undefined
}

/** Runs the task's agent CLI in the clone (and the repository's setup commands before it). */
export class AgentRunner extends Context.Service<AgentRunner, {
  readonly run: (input: RunInput) => Effect.Effect<AgentResult, AgentNotStarted>
  /**
   * Runs the repository's setup commands (`.github/porter.yml`) in the clone, one after the other, each with `sh -c`
   * and the agent's environment (no task token), before the deadline; the first that fails stops them.
   */
  readonly setup: (commands: ReadonlyArray<string>, cwd: string) => Effect.Effect<void, SetupFailed>
}>()("@porter/runner/AgentRunner") {}

/** How the runner starts itself as the script agent (`node [execArgv] main script-agent`). */
export interface SelfCommand {
  readonly command: string
  readonly args: ReadonlyArray<string>
}

/** What the agent runner needs: the machine environment and how to run the runner itself (the script agent). */
export interface Options {
  readonly env: MachineEnv
  readonly self: SelfCommand
}

/** Claude Code's final `--output-format json` object (the fields Porter reads). */
export const ClaudeResult = Schema.Struct({
  type: Schema.Literal("result"),
  subtype: Schema.optional(Schema.String),
  is_error: Schema.optional(Schema.Boolean),
  result: Schema.optional(Schema.String),
  total_cost_usd: Schema.optional(Schema.Number),
  duration_ms: Schema.optional(Schema.Number),
  num_turns: Schema.optional(Schema.Number),
  usage: Schema.optional(Schema.Struct({
    input_tokens: Schema.optional(Schema.Number),
    output_tokens: Schema.optional(Schema.Number),
    cache_creation_input_tokens: Schema.optional(Schema.Number),
    cache_read_input_tokens: Schema.optional(Schema.Number)
  }))
})
export type ClaudeResult = typeof ClaudeResult.Type

const decodeClaudeResult = Schema.decodeUnknownOption(Schema.fromJsonString(ClaudeResult))

/** The last JSON result line of Claude Code's output, if any. */
export const parseClaudeResult = (stdout: string): Option.Option<ClaudeResult> => {
  const lines = stdout.split("\n")
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!.trim()
    if (!line.startsWith("{")) continue
    const parsed = decodeClaudeResult(line)
    if (Option.isSome(parsed)) return parsed
  }
  return Option.none()
}

/** Tokens and cost from Claude Code's final JSON result. */
export const usageOf = (result: ClaudeResult): Task.Usage =>
  new Task.Usage({
    ...(result.usage?.input_tokens !== undefined ? { inputTokens: result.usage.input_tokens } : {}),
    ...(result.usage?.output_tokens !== undefined ? { outputTokens: result.usage.output_tokens } : {}),
    ...(result.usage?.cache_read_input_tokens !== undefined
      ? { cacheReadTokens: result.usage.cache_read_input_tokens }
      : {}),
    ...(result.usage?.cache_creation_input_tokens !== undefined
      ? { cacheWriteTokens: result.usage.cache_creation_input_tokens }
      : {}),
    ...(result.total_cost_usd !== undefined ? { costUsd: result.total_cost_usd } : {}),
    ...(result.duration_ms !== undefined ? { durationMs: result.duration_ms } : {}),
    ...(result.num_turns !== undefined ? { turns: result.num_turns } : {})
  })

const SUMMARY_LINES = 30
const SUMMARY_CHARS = 8_000

/** The last non-empty lines of a plain-text agent's output. */
export const textSummary = (stdout: string): string | undefined => {
  const lines = stdout.split("\n").map((l) => l.trimEnd()).filter((l) => l.trim() !== "")
  if (lines.length === 0) return undefined
  const text = lines.slice(-SUMMARY_LINES).join("\n")
  return text.length > SUMMARY_CHARS ? text.slice(-SUMMARY_CHARS) : text
}

/** The agent runner on a child-process spawner, the file system and the run log. */
export const make = Effect.fnUntraced(function*(options: Options) {
  const log = yield* RunLog
  const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
  const fs = yield* FileSystem
  const path = yield* Path
  const { env } = options

  const run = Effect.fn("AgentRunner.run")(function*(input: RunInput) {
    const { spec } = input
    const invocation = spec.invocation({
      prompt: input.prompt,
      model: input.model,
      ...(input.session !== undefined && spec.resumes === true ? { session: input.session } : {})
    })
    const isScript = invocation.command === AgentCatalog.SCRIPT_AGENT_COMMAND
    const command = isScript ? options.self.command : invocation.command
    const args = isScript ? [...options.self.args] : [...invocation.args]
    const childEnv = agentEnvironment(env, invocation.env ?? {})
    const claudeJson = spec.output === "claude-json"
    yield* Effect.annotateCurrentSpan({ agent: spec.name, command })
    yield* AgentSetup.prepare(spec.name, childEnv).pipe(
      Effect.provideService(FileSystem, fs),
      Effect.provideService(Path, path),
      Effect.flatMap(({ written }) =>
        Effect.forEach(written, (file) => log.line("runner", `wrote ${file} for ${spec.name}`), { discard: true })
      ),
      Effect.catch((error) => log.line("runner", `could not prepare ${spec.name}'s configuration: ${error.message}`))
    )

    const started = yield* Clock.currentTimeMillis
    const remaining = Math.max(0, env.deadlineAt - started)
    const outcome = yield* Proc.run(command, args, {
      cwd: input.cwd,
      env: childEnv,
      ...(invocation.prompt === "stdin" ? { stdin: input.prompt } : {}),
      forceKillAfter: Duration.millis(env.killGraceMs),
      onLine: (stream, line) => {
        // Claude Code's final JSON object is the result, not log output; its text is the summary.
        if (claudeJson && stream === "stdout" && line.startsWith("{") && Option.isSome(decodeClaudeResult(line))) {
          return Effect.void
        }
        return log.line(stream === "stdout" ? "agent" : "agent:err", line)
      }
    }).pipe(
      Effect.provideService(ChildProcessSpawner.ChildProcessSpawner, spawner),
      Effect.map((result) => ({ _tag: "Done" as const, result })),
      Effect.timeoutOrElse({
        duration: Duration.millis(remaining),
        orElse: () => Effect.succeed({ _tag: "Deadline" as const })
      }),
      (proc) =>
        input.stop === undefined
          ? proc
          : Effect.raceFirst(proc, Effect.map(input.stop, (why) => ({ _tag: "Stopped" as const, why }))),
      Effect.mapError((error) => new AgentNotStarted({ command, detail: error.message }))
    )
    const durationMs = (yield* Clock.currentTimeMillis) - started

    if (outcome._tag !== "Done") {
      const stopped = outcome._tag === "Stopped" ? outcome.why : undefined
      yield* log.line(
        "runner",
        stopped !== undefined
          ? `Porter asked to stop (${stopped}); the agent's process group was killed after ${durationMs} ms`
          : `the agent ran past the task deadline; its process group was killed after ${durationMs} ms`
      )
      return {
        exitCode: 124,
        timedOut: true,
        ...(stopped !== undefined ? { stopped } : {}),
        summary: undefined,
        usage: undefined,
        error: stopped !== undefined
          ? `the agent was stopped: ${stopped}`
          : "the agent did not finish before the task deadline and was stopped",
        durationMs
      } satisfies AgentResult
    }
    const result = outcome.result
    if (claudeJson) {
      const parsed = parseClaudeResult(result.stdout)
      if (Option.isSome(parsed)) {
        const r = parsed.value
        yield* log.line(
          "runner",
          `agent result: ${r.subtype ?? "?"}${r.num_turns !== undefined ? `, ${r.num_turns} turns` : ""}${
            r.total_cost_usd !== undefined ? `, $${r.total_cost_usd.toFixed(4)}` : ""
          }`
        )
        return {
          exitCode: result.exitCode,
          timedOut: false,
          summary: r.result,
          usage: usageOf(r),
          error: r.is_error ? (r.result ?? r.subtype ?? "the agent reported an error").slice(0, 500) : undefined,
          durationMs
        } satisfies AgentResult
      }
    }
    return {
      exitCode: result.exitCode,
      timedOut: false,
      summary: textSummary(result.stdout),
      usage: new Task.Usage({ durationMs }),
      error: result.exitCode !== 0
        ? textSummary(result.stderr)?.split("\n").slice(-3).join(" ").slice(0, 500)
        : undefined,
      durationMs
    } satisfies AgentResult
  })

  const setup = Effect.fn("AgentRunner.setup")(function*(commands: ReadonlyArray<string>, cwd: string) {
    const childEnv = agentEnvironment(env, {})
    for (const command of commands) {
      yield* log.line("runner", `setup: ${command}`)
      const remaining = Math.max(0, env.deadlineAt - (yield* Clock.currentTimeMillis))
      const outcome = yield* Proc.run("sh", ["-c", command], {
        cwd,
        env: childEnv,
        forceKillAfter: Duration.millis(env.killGraceMs),
        onLine: (stream, line) => log.line(stream === "stdout" ? "setup" : "setup:err", line)
      }).pipe(
        Effect.provideService(ChildProcessSpawner.ChildProcessSpawner, spawner),
        Effect.timeoutOption(Duration.millis(remaining)),
        Effect.mapError((error) => new SetupFailed({ command, detail: `could not be started: ${error.message}` }))
      )
      if (Option.isNone(outcome)) {
        return yield* new SetupFailed({ command, detail: "ran past the task deadline and was stopped" })
      }
      if (outcome.value.exitCode !== 0) {
        return yield* new SetupFailed({ command, detail: `exited with code ${outcome.value.exitCode}` })
      }
    }
  })

  return AgentRunner.of({ run, setup })
})

/** `AgentRunner` with its options. */
export const layer = (
  options: Options
): Layer.Layer<AgentRunner, never, RunLog | ChildProcessSpawner.ChildProcessSpawner | FileSystem | Path> =>
  Layer.effect(AgentRunner, make(options))

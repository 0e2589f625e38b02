/**
 * RepoConfig: a repository's own configuration, `.github/porter.yml`, read from its base branch (the default branch, or
 * a pull request's base: never the branch an agent or a fork's author can write) when a task is recorded, when its
 * machine is asked for, and when its changes are published. Decoded with `effect/encoding`'s YAML and a schema;
 * a problem is reported with the line it is on.
 *
 *   agent: claude                 # the default agent here
 *   agents: [claude, codex]       # the only agents that may run here
 *   models: { claude: opus }      # default model per agent
 *   timeout: 45m                  # default timeout
 *   budget: 2.5                   # USD a task may spend on model calls
 *   setup: [npm ci]               # commands the machine runs in the clone before the agent
 *   instructions: docs/agents.md  # a file of the repository added to every prompt
 *   protected: [infra/**, "*.lock"]  # paths no change set may touch
 *   autofixCi: 1                  # fix tasks Porter starts by itself per pull request when its checks fail
 *
 * Precedence: a command's own words (`@porter codex --model … --timeout …`) beat the file, the file beats the
 * deployment's defaults (`Settings`: default agent, default timeout). The deployment's limits bound the file: its maximum
 * timeout, its active-task limits, its allow and deny lists, `allowWorkflowChanges`; agents the deployment does not know
 * cannot be allowed. Protected paths add to the deployment's rules.
 *
 * Cannot: read a file larger than GitHub's contents API serves (1 MB), or anchors across documents.
 */
import { Effect, Option, Schema, SchemaIssue } from "effect"
import { Yaml } from "effect/encoding"
import type { AgentSpec } from "./Agent.ts"
import { parseDuration } from "./CommandParser.ts"
import type { ReportError } from "./Errors.ts"
import type { IssueReader } from "./IssueReader.ts"
import { formatDuration } from "./Messages.ts"
import type { RepoRef } from "./Repo.ts"
import { AutofixCi } from "./Settings.ts"

/** Where the file lives in a repository. */
export const PATH = ".github/porter.yml"

const AgentWord = Schema.String.pipe(Schema.check(Schema.isPattern(/^[A-Za-z][A-Za-z0-9-]{0,31}$/, {
  expected: "an agent name"
})))
const Model = Schema.String.pipe(Schema.check(Schema.isPattern(/^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,99}$/, {
  expected: "a model id"
})))
const DurationText = Schema.String.pipe(
  Schema.check(
    Schema.makeFilter((text: string) => parseDuration(text) !== undefined || "a duration like 20m, 90s or 1h30m")
  )
)
const Path = Schema.String.pipe(Schema.check(
  Schema.isPattern(/^(?!\/)(?!.*(?:^|\/)\.\.(?:\/|$))[^\x00-\x1f\\]{1,300}$/, {
    expected: "a path inside the repository"
  })
))

/** The file as written (every key optional; unknown keys are refused, so a typo does not pass unseen). */
export const RepoConfigFile = Schema.Struct({
  agent: Schema.optional(AgentWord),
  agents: Schema.optional(Schema.Array(AgentWord).pipe(Schema.check(Schema.isMaxLength(32)))),
  models: Schema.optional(Schema.Record(AgentWord, Model)),
  timeout: Schema.optional(DurationText),
  budget: Schema.optional(Schema.Number.pipe(Schema.check(
    Schema.isBetween({ minimum: 0, maximum: 1e6 }, { expected: "US dollars between 0 and 1,000,000" })
  ))),
  setup: Schema.optional(
    Schema.Array(Schema.String.pipe(Schema.check(Schema.isMinLength(1), Schema.isMaxLength(2_000)))).pipe(
      Schema.check(Schema.isMaxLength(20))
    )
  ),
  instructions: Schema.optional(Path),
  protected: Schema.optional(Schema.Array(Path).pipe(Schema.check(Schema.isMaxLength(200)))),
  autofixCi: Schema.optional(AutofixCi)
})
export type RepoConfigFile = typeof RepoConfigFile.Type

/** No file: nothing set. */
export const empty: RepoConfigFile = {}

/** `.github/porter.yml` cannot be used: `message` says what is wrong, and where. */
export class RepoConfigError extends Schema.TaggedError<RepoConfigError>()("RepoConfigError", {
  message: Schema.String,
  line: Schema.optional(Schema.Int)
}) {}

const decodeFile = Schema.decodeUnknownEffect(RepoConfigFile)

/** The line (from 1) of a top-level key in the file's text, if it is written as `key:` at the start of a line. */
const lineOfKey = (text: string, key: string): number | undefined => {
  const index = text.split(/\r\n|\r|\n/).findIndex((line) => new RegExp(`^["']?${key}["']?\\s*:`).test(line))
  return index < 0 ? undefined : index + 1
}

const located = (message: string, line: number | undefined) =>
  new RepoConfigError({
    message: `\`${PATH}\`${line !== undefined ? ` line ${line}` : ""}: ${message}`,
    ...(line !== undefined ? { line } : {})
  })

/** Parses and decodes the file's text; a YAML or schema problem is a `RepoConfigError` naming the line. */
export const decode = (text: string): Effect.Effect<RepoConfigFile, RepoConfigError> =>
  Effect.try({
    try: () => Yaml.parse(text),
    catch: (error) => {
      const message = error instanceof Error ? error.message : String(error)
      const line = /at line (\d+)/.exec(message)
      return located(`it is not valid YAML (${message})`, line ? Number(line[1]) : undefined)
    }
  }).pipe(
    Effect.flatMap((value) =>
      decodeFile(value ?? {}, { onExcessProperty: "error" }).pipe(
        Effect.mapError((error) => {
          const first = formatter(error.issue).issues[0]
          const path = (first?.path ?? []).map((p) => (typeof p === "object" && p !== null ? p.key : p))
          const key = typeof path[0] === "string" ? path[0] : undefined
          const known = key !== undefined && key in RepoConfigFile.fields
          const what = key === undefined
            ? `it must be a mapping of settings (${Object.keys(RepoConfigFile.fields).join(", ")})`
            : known
            ? `\`${path.map(String).join(".")}\`: ${first?.message ?? "not valid"}`
            : `\`${key}\` is not a setting (known: ${Object.keys(RepoConfigFile.fields).join(", ")})`
          return located(what, key === undefined ? undefined : lineOfKey(text, key))
        })
      )
    )
  )

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

/** The file as read: decoded, and its text (for the lines of later problems); no file is `empty` without text. */
export interface Loaded {
  readonly file: RepoConfigFile
  readonly text: string | undefined
}

/** Reads and decodes the file on `ref` (the default branch when undefined). */
export const read = (
  reader: IssueReader["Service"],
  repo: RepoRef,
  ref: string | undefined,
  installationId: number | undefined
): Effect.Effect<Loaded, RepoConfigError> =>
  reader.file(repo, PATH, ref, installationId).pipe(
    Effect.mapError((error: ReportError) =>
      new RepoConfigError({ message: `\`${PATH}\` could not be read (${error.message}).` })
    ),
    Effect.flatMap((text) =>
      Option.isNone(text)
        ? Effect.succeed<Loaded>({ file: empty, text: undefined })
        : Effect.map(decode(text.value), (file): Loaded => ({ file, text: text.value }))
    )
  )

/**
 * What the file adds to a task's machine: its setup commands, and the text of its instructions file. `loaded`: the
 * file as already read for this request (else it is read).
 */
export const machineExtras = Effect.fnUntraced(function*(
  reader: IssueReader["Service"],
  repo: RepoRef,
  ref: string | undefined,
  installationId: number | undefined,
  loaded?: Loaded
) {
  const { file } = loaded ?? (yield* read(reader, repo, ref, installationId))
  const path = file.instructions
  if (path === undefined) return { setup: file.setup, instructions: undefined }
  const text = yield* reader.file(repo, path, ref, installationId).pipe(
    Effect.mapError((error) =>
      new RepoConfigError({
        message: `\`${path}\` (the instructions \`${PATH}\` names) could not be read: ${error.message}`
      })
    )
  )
  if (Option.isNone(text)) {
    return yield* new RepoConfigError({
      message: `\`${PATH}\` names \`${path}\` as its instructions: there is no such file`
    })
  }
  return { setup: file.setup, instructions: { path, text: text.value } }
})

/** What a request runs with once the file and the deployment had their say. */
export interface Resolved {
  readonly agent: AgentSpec
  readonly model: string | undefined
  readonly timeoutMs: number
  /** The command's `--budget`, else the file's `budget` (USD); unset: the deployment's task budget applies. */
  readonly budgetUsd: number | undefined
}

/**
 * Applies the file to a request: the agent (named, else the file's, else the deployment's default), whether it may run
 * here, its model and the timeout. A problem is a sentence for the issue.
 */
export const resolve = (
  { file, text }: Loaded,
  request: {
    readonly agent: string | undefined
    readonly model: string | undefined
    readonly timeoutMs: number | undefined
    readonly budgetUsd: number | undefined
  },
  deployment: {
    readonly defaultAgent: string
    readonly defaultTimeoutMs: number
    readonly maxTimeoutMs: number
    readonly maxTaskBudgetUsd: number
  },
  lookup: (name: string) => Option.Option<AgentSpec>
): { readonly _tag: "Resolved"; readonly value: Resolved } | { readonly _tag: "Problem"; readonly message: string } => {
  const line = (key: string) => (text === undefined ? undefined : lineOfKey(text, key))
  const where = (key: string) => `\`${PATH}\`${line(key) !== undefined ? ` line ${line(key)}` : ""}`
  const name = request.agent ?? file.agent ?? deployment.defaultAgent
  const agent = lookup(name)
  if (Option.isNone(agent)) {
    return {
      _tag: "Problem",
      message: request.agent === undefined && file.agent !== undefined
        ? `${where("agent")} names \`${file.agent}\` as the default agent, but no agent is called that here.`
        : `No agent called \`${name}\` is configured here.`
    }
  }
  if (file.agents !== undefined) {
    const allowed = file.agents.flatMap((word) => Option.toArray(lookup(word)).map((spec) => spec.name))
    if (!allowed.includes(agent.value.name)) {
      return {
        _tag: "Problem",
        message: `\`${agent.value.name}\` may not run in this repository: ${where("agents")} allows ${
          allowed.length === 0 ? "no agent Porter knows" : allowed.map((a) => `\`${a}\``).join(", ")
        }.`
      }
    }
  }
  const models = file.models ?? {}
  const fileModel = Object.entries(models).find(([word]) =>
    Option.getOrUndefined(lookup(word))?.name === agent.value.name
  )?.[1]
  const fileTimeout = file.timeout === undefined ? undefined : parseDuration(file.timeout)
  if (request.timeoutMs === undefined && fileTimeout !== undefined && fileTimeout > deployment.maxTimeoutMs) {
    return {
      _tag: "Problem",
      message: `${where("timeout")}: \`timeout: ${file.timeout}\` is longer than this deployment allows (${
        formatDuration(deployment.maxTimeoutMs)
      }).`
    }
  }
  if (request.budgetUsd === undefined && file.budget !== undefined && file.budget > deployment.maxTaskBudgetUsd) {
    return {
      _tag: "Problem",
      message: `${
        where("budget")
      }: \`budget: ${file.budget}\` is more than this deployment allows a task ($${deployment.maxTaskBudgetUsd}).`
    }
  }
  return {
    _tag: "Resolved",
    value: {
      agent: agent.value,
      model: request.model ?? fileModel,
      timeoutMs: request.timeoutMs ?? fileTimeout ?? deployment.defaultTimeoutMs,
      budgetUsd: request.budgetUsd ?? file.budget
    }
  }
}

/**
 * The machine environment: the runner's only input, one schema for both sides. The Dispatcher encodes it (typed
 * values → the strings a machine's environment holds), the runner decodes it (`@porter/runner`'s `MachineEnv`).
 *
 * Plain variables (`MachineEnv`) and secret ones (`MachineSecrets`) are separate: provisioners keep secret variables
 * out of logs and, where they can, out of the machine's inspectable configuration. Optional `PORTER_*` variables are
 * the runner's own knobs (set through `PorterConfig.machineEnv`); see the runner's README.
 */
import { Effect, Schema } from "effect"
import type { Redacted } from "effect"

const nonEmpty = Schema.String.pipe(Schema.check(Schema.isMinLength(1)))

/** A git branch name `git check-ref-format --branch` would accept (a conservative subset). */
export const BranchName = Schema.String.pipe(
  Schema.check(
    Schema.isPattern(
      /^(?!-)(?!.*\.\.)(?!.*\/\/)(?!.*@\{)(?!.*\.lock(?:\/|$))[^\s~^:?*[\\\x00-\x1f\x7f]{1,250}(?<![./])$/,
      {
        expected: "a git branch name"
      }
    )
  )
)

const HttpUrl = Schema.String.pipe(
  Schema.check(Schema.isPattern(/^https?:\/\/[^\s]+$/, { expected: "an http(s) URL" }))
)

/** `http(s)://…` or `file://…` (local setups clone from a path). */
const CloneUrl = Schema.String.pipe(
  Schema.check(Schema.isPattern(/^(?:https?|file):\/\/[^\s]+$/, { expected: "an http(s) or file URL" }))
)

const PositiveInt = Schema.NumberFromString.pipe(
  Schema.check(Schema.isInt({ expected: "an integer" }), Schema.isGreaterThan(0, { expected: "a positive number" }))
)

const IsoDate = Schema.String.pipe(
  Schema.check(Schema.makeFilter((s: string) => Number.isFinite(Date.parse(s)), { expected: "an ISO 8601 date" }))
)

/**
 * The longest prompt a machine is given, in UTF-16 code units (the PromptBuilder keeps to it). One environment
 * string may not exceed 128 KiB on Linux; this leaves room for the rest.
 */
export const MAX_PROMPT_LENGTH = 64 * 1024

/** The plain machine environment's variables, each on its own. */
export const MachineEnvFields = Schema.Struct({
  TASK_ID: Schema.String.pipe(
    Schema.check(Schema.isPattern(/^task_[0-9a-hjkmnp-tv-z]{26}$/, { expected: "a Porter task id (task_…)" }))
  ),
  REPO_FULL_NAME: Schema.String.pipe(
    Schema.check(Schema.isPattern(/^[A-Za-z0-9_.-]{1,100}\/[A-Za-z0-9_.-]{1,100}$/, { expected: "owner/name" }))
  ),
  REPO_CLONE_URL: CloneUrl,
  BASE_BRANCH: Schema.optional(BranchName),
  /** Set for follow-ups on a pull request: the branch the work continues on (then equal to `BRANCH`). */
  HEAD_BRANCH: Schema.optional(BranchName),
  BRANCH: BranchName,
  ISSUE_NUMBER: PositiveInt,
  ISSUE_TITLE: Schema.optional(Schema.String),
  AGENT: nonEmpty,
  PROMPT: nonEmpty.pipe(Schema.check(Schema.isMaxLength(MAX_PROMPT_LENGTH))),
  MODEL: Schema.optional(nonEmpty),
  CALLBACK_URL: HttpUrl,
  /**
   * Porter's model gateway for this task (`<publicUrl>/gateway/tasks/<id>`): the runner points the agent's CLI at it
   * (`Providers.clientEnvironment`) with `GATEWAY_TOKEN` where the CLI reads its key. Unset for agents that keep
   * their own keys (Amp).
   */
  MODEL_GATEWAY_URL: Schema.optional(HttpUrl),
  TASK_DEADLINE: IsoDate,
  HEARTBEAT_INTERVAL_MS: Schema.optional(PositiveInt),
  REQUESTED_BY: Schema.optional(Schema.String),
  /**
   * `ask`: a question, answered read-only — the runner sends no change set, whatever the agent did; its final message
   * is the answer. Unset (or `change`): the agent's changes are proposed for a pull request.
   */
  TASK_MODE: Schema.optional(Schema.Literals(["change", "ask"])),
  /**
   * The repository's setup commands (`.github/porter.yml`'s `setup`), a JSON array of strings: the runner runs each in
   * the clone, with the agent's environment, before the agent; one that fails fails the task.
   */
  SETUP_COMMANDS: Schema.optional(Schema.fromJsonString(
    Schema.Array(Schema.String.pipe(Schema.check(Schema.isMinLength(1), Schema.isMaxLength(2_000)))).pipe(
      Schema.check(Schema.isMaxLength(20))
    )
  )),
  /**
   * `true` for a continuation whose agent resumes its earlier session: the runner fetches it
   * (`GET /callbacks/tasks/:id/session`), puts it where the CLI keeps sessions and resumes it; `PROMPT` is then only
   * what is asked now. Without a session to fetch, the run fails rather than start the CLI without its context.
   */
  RESUME_SESSION: Schema.optional(Schema.Literal("true")),
  // The runner's own knobs (all optional; see the runner's README).
  PORTER_WORKDIR: Schema.optional(nonEmpty),
  PORTER_KILL_GRACE_MS: Schema.optional(PositiveInt),
  PORTER_LOG_TAIL_LINES: Schema.optional(PositiveInt),
  PORTER_CALLBACK_RETRIES: Schema.optional(Schema.NumberFromString.pipe(Schema.check(Schema.isInt()))),
  PORTER_CALLBACK_RETRY_BASE_MS: Schema.optional(PositiveInt),
  PORTER_GIT_NAME: Schema.optional(nonEmpty),
  PORTER_GIT_EMAIL: Schema.optional(nonEmpty),
  PORTER_CLONE_FILTER: Schema.optional(Schema.Literals(["blob:none", "none"]))
})

/** The plain machine environment, with the rules that tie variables together. */
export const MachineEnv = MachineEnvFields.pipe(
  Schema.check(
    Schema.makeFilter((env: typeof MachineEnvFields.Type) =>
      env.HEAD_BRANCH === undefined || env.HEAD_BRANCH === env.BRANCH || {
        path: ["BRANCH"],
        issue: `must equal HEAD_BRANCH for a pull-request follow-up (got ${env.BRANCH} and ${env.HEAD_BRANCH})`
      }
    ),
    Schema.makeFilter((env: typeof MachineEnvFields.Type) =>
      env.BASE_BRANCH === undefined || env.BASE_BRANCH !== env.BRANCH || {
        path: ["BRANCH"],
        issue: `must differ from BASE_BRANCH (${env.BASE_BRANCH}): Porter never writes to the base branch`
      }
    )
  )
)
export type MachineEnv = typeof MachineEnv.Type

const Secret = Schema.RedactedFromValue(nonEmpty)

/**
 * The machine's secret variables: the task token, good for this task's callbacks, its change set and a read-only
 * clone of its repository; and the gateway credential, good for this task's model calls through Porter's gateway
 * (derived apart, so the agent, which must hold it, does not hold the task token's doors). Both only while the task is
 * active. No GitHub token and no provider key is ever sent to a machine (Amp's key excepted: `keysOnMachine`).
 */
export const MachineSecrets = Schema.Struct({
  CALLBACK_TOKEN: Secret,
  GATEWAY_TOKEN: Schema.optional(Secret)
})
export type MachineSecrets = typeof MachineSecrets.Type

/** Every variable name of the contract. */
export const variableNames: ReadonlyArray<string> = [
  ...Object.keys(MachineEnvFields.fields),
  ...Object.keys(MachineSecrets.fields)
]

const encodePlain = Schema.encodeEffect(MachineEnv)

/**
 * The environment strings for `env`, or a `SchemaError` naming the variable that cannot be sent (a branch name git
 * would refuse, an over-long prompt).
 */
export const encode = (env: MachineEnv): Effect.Effect<Record<string, string>, Schema.SchemaError> =>
  Effect.map(encodePlain(env), (encoded) => {
    const out: Record<string, string> = {}
    for (const [name, value] of Object.entries(encoded)) if (value !== undefined) out[name] = value
    return out
  })

/** The secret variables, still `Redacted`: provisioners unwrap them only at their own boundary. */
export const secretVariables = (
  secrets: MachineSecrets
): Readonly<Record<string, Redacted.Redacted<string>>> => {
  const out: Record<string, Redacted.Redacted<string>> = {}
  for (const [name, value] of Object.entries(secrets)) if (value !== undefined) out[name] = value
  return out
}

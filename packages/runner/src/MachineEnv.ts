/**
 * The machine environment — the runner's only input — decoded with the schema core's Dispatcher encodes it with
 * (`@porter/core`'s `MachineEnv`). Secrets (`CALLBACK_TOKEN`, the task token; `GATEWAY_TOKEN`, the credential the
 * agent's CLI presents to Porter's model gateway; Amp's own key) become `Redacted` values and never appear in a
 * decoding message. No provider key: the agent's model calls go through Porter's gateway (`MODEL_GATEWAY_URL`). No GitHub token: the clone goes through Porter's read-only git proxy
 * and the agent's work goes back to Porter as a change set. The runner's own knobs are optional `PORTER_*` variables.
 */
import { AgentCatalog, MachineEnv as Contract, Providers } from "@porter/core"
import { Context, Option, Redacted, Result, Schema, SchemaIssue } from "effect"
import { stripCredentials } from "./GitEnv.ts"

/** A git branch name `git check-ref-format --branch` would accept (a conservative subset). */
export const BranchName = Contract.BranchName

/** The variables the runner reads: the plain contract and its secrets. */
export const MachineEnvSchema = Schema.Struct({
  ...Contract.MachineEnvFields.fields,
  ...Contract.MachineSecrets.fields
})
/** The machine environment's fields, decoded. */
export type MachineEnvFields = typeof MachineEnvSchema.Type

/** The decoded environment plus everything derived from it. */
export interface MachineEnv {
  readonly taskId: string
  readonly repoFullName: string
  readonly owner: string
  readonly repo: string
  /** Porter's git proxy for this task, without credentials: the task token goes in an HTTP header, never in a URL. */
  readonly cloneUrl: string
  readonly baseBranch: string | undefined
  readonly headBranch: string | undefined
  readonly branch: string
  readonly issueNumber: number
  readonly issueTitle: string
  readonly agent: string
  readonly prompt: string
  readonly model: string | undefined
  readonly callbackUrl: string
  readonly deadlineAt: number
  readonly heartbeatIntervalMs: number
  readonly requestedBy: string | undefined
  readonly callbackToken: Redacted.Redacted<string>
  /** Porter's model gateway for this task, and the credential the agent's CLI presents there (no provider key). */
  readonly gatewayUrl: string | undefined
  readonly gatewayToken: Redacted.Redacted<string> | undefined
  readonly workdir: string | undefined
  readonly killGraceMs: number
  readonly logTailLines: number
  readonly callbackRetries: number
  readonly callbackRetryBaseMs: number
  readonly gitName: string
  readonly gitEmail: string
  /** A partial clone (`--filter=blob:none`), only when `PORTER_CLONE_FILTER=blob:none`; default a full depth-1 clone. */
  readonly cloneFilter: boolean
  /** `ask`: a question answered read-only (no change set is sent); `change`: the agent's changes are proposed. */
  readonly mode: "change" | "ask"
  /** The repository's setup commands (`.github/porter.yml`), run in the clone before the agent. */
  readonly setup: ReadonlyArray<string>
  /** A continuation that resumes the agent's earlier session (fetched from Porter before the agent starts). */
  readonly resumeSession: boolean
  /** The whole environment the runner was started with (agent keys, PATH, HOME…), secrets included. */
  readonly raw: Readonly<Record<string, string>>
}

/** The decoded machine environment, as a service. */
export class MachineEnvService extends Context.Service<MachineEnvService, MachineEnv>()(
  "@porter/runner/MachineEnv"
) {}

/** Missing or malformed variables, by name; never their values. */
export class BadEnvironment extends Schema.TaggedError<BadEnvironment>()("BadEnvironment", {
  problems: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `the machine environment is incomplete or malformed:\n${this.problems.map((p) => `  - ${p}`).join("\n")}`
  }
}

/** Variables that are secret by name: the task's tokens, every agent key, anything named like a credential. */
export const isSecretName = (name: string): boolean => {
  if (name === "CALLBACK_TOKEN" || name === "GATEWAY_TOKEN") return true
  if (/_URL$/.test(name)) return false
  if (catalogSecretNames.has(name)) return true
  return /(^|_)(TOKEN|API_KEY|KEY|SECRET|PASSWORD|PASSWD|CREDENTIALS?|AUTH)($|_)/i.test(name)
}

const catalogSecretNames = new Set(
  AgentCatalog.builtInAgents.flatMap((agent) => agent.secrets.flatMap((s) => s.names))
)

/** Every secret value in `env` (see `isSecretName`), plus a password embedded in the clone URL. */
export const secretValues = (env: Readonly<Record<string, string | undefined>>): ReadonlyArray<string> => {
  const values: Array<string> = []
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && value.length > 0 && isSecretName(name)) values.push(value)
  }
  const cloneUrl = env["REPO_CLONE_URL"]
  if (cloneUrl !== undefined) {
    const password = urlPassword(cloneUrl)
    if (password !== undefined) values.push(password)
  }
  return values
}

const urlPassword = (url: string): string | undefined => {
  try {
    const parsed = new URL(url)
    return parsed.password ? decodeURIComponent(parsed.password) : undefined
  } catch {
    return undefined
  }
}

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

/** Empty optional variables count as unset (some platforms cannot delete a variable, only blank it). */
const withoutBlanks = (env: Readonly<Record<string, string | undefined>>): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && value !== "") out[name] = value
  }
  return out
}

const describe = (issue: SchemaIssue.Issue, scrub: (text: string) => string): ReadonlyArray<string> =>
  formatter(issue).issues.map((entry) => {
    const name = entry.path?.map((p) => String(typeof p === "object" ? p.key : p)).join(".") ?? "environment"
    const message = /missing key/i.test(entry.message) ? "is not set" : `is malformed (${scrub(entry.message)})`
    return `${name} ${message}`
  })

/**
 * Decodes the environment. The problems list names each bad variable; secret values never appear
 * in it (they are scrubbed from Schema's messages, which may quote the input).
 */
export const decode = (
  env: Readonly<Record<string, string | undefined>>
): Result.Result<MachineEnv, BadEnvironment> => {
  const input = withoutBlanks(env)
  const secrets = secretValues(input)
  const scrub = (text: string) => secrets.reduce((acc, secret) => acc.split(secret).join("[redacted]"), text)
  const plain = Schema.decodeUnknownResult(Contract.MachineEnv)(input, { errors: "all" })
  const secret = Schema.decodeUnknownResult(Contract.MachineSecrets)(input, { errors: "all" })
  const problems = [
    ...(Result.isFailure(plain) ? describe(plain.failure.issue, scrub) : []),
    ...(Result.isFailure(secret) ? describe(secret.failure.issue, scrub) : [])
  ]
  if (Result.isFailure(plain) || Result.isFailure(secret)) return Result.fail(new BadEnvironment({ problems }))
  const f = { ...plain.success, ...secret.success }
  const [owner, repo] = f.REPO_FULL_NAME.split("/") as [string, string]
  return Result.succeed({
    taskId: f.TASK_ID,
    repoFullName: f.REPO_FULL_NAME,
    owner,
    repo,
    cloneUrl: stripCredentials(f.REPO_CLONE_URL),
    baseBranch: f.BASE_BRANCH,
    headBranch: f.HEAD_BRANCH,
    branch: f.BRANCH,
    issueNumber: f.ISSUE_NUMBER,
    issueTitle: f.ISSUE_TITLE ?? `Issue #${f.ISSUE_NUMBER}`,
    agent: f.AGENT,
    prompt: f.PROMPT,
    model: f.MODEL,
    callbackUrl: f.CALLBACK_URL,
    deadlineAt: Date.parse(f.TASK_DEADLINE),
    heartbeatIntervalMs: f.HEARTBEAT_INTERVAL_MS ?? 30_000,
    requestedBy: f.REQUESTED_BY,
    callbackToken: f.CALLBACK_TOKEN,
    gatewayUrl: f.MODEL_GATEWAY_URL,
    gatewayToken: f.GATEWAY_TOKEN,
    workdir: f.PORTER_WORKDIR,
    killGraceMs: f.PORTER_KILL_GRACE_MS ?? 10_000,
    logTailLines: f.PORTER_LOG_TAIL_LINES ?? 100,
    callbackRetries: f.PORTER_CALLBACK_RETRIES ?? 8,
    callbackRetryBaseMs: f.PORTER_CALLBACK_RETRY_BASE_MS ?? 500,
    gitName: f.PORTER_GIT_NAME ?? "porter[bot]",
    gitEmail: f.PORTER_GIT_EMAIL ?? "porter[bot]@users.noreply.github.com",
    cloneFilter: f.PORTER_CLONE_FILTER === "blob:none",
    mode: f.TASK_MODE ?? "change",
    setup: f.SETUP_COMMANDS ?? [],
    resumeSession: f.RESUME_SESSION === "true",
    raw: input
  })
}

/** Where a `completed` callback can still go when the rest of the environment is unusable. */
export interface CallbackTarget {
  readonly url: string
  readonly token: Redacted.Redacted<string>
}

/** Where a last `completed` callback can go, read from the raw environment (when the rest does not decode). */
export const callbackTarget = (env: Readonly<Record<string, string | undefined>>): Option.Option<CallbackTarget> => {
  const Target = Schema.Struct({
    TASK_ID: MachineEnvSchema.fields.TASK_ID,
    CALLBACK_URL: MachineEnvSchema.fields.CALLBACK_URL,
    CALLBACK_TOKEN: MachineEnvSchema.fields.CALLBACK_TOKEN
  })
  return Schema.decodeUnknownOption(Target)(withoutBlanks(env)).pipe(
    Option.map((t) => ({ url: t.CALLBACK_URL, token: t.CALLBACK_TOKEN }))
  )
}

/**
 * Variables the agent never sees: the task token (the runner clones, proposes the changes and reports; the agent does
 * not), any GitHub token a host may have left in the environment, and the runner's own plumbing. The gateway's URL and
 * credential reach it under each CLI's own names instead (`Providers.clientEnvironment`).
 */
export const hiddenFromAgent: ReadonlySet<string> = new Set([
  "GITHUB_TOKEN",
  "GH_TOKEN",
  "CALLBACK_TOKEN",
  "CALLBACK_URL",
  "GATEWAY_TOKEN",
  "MODEL_GATEWAY_URL",
  "PROMPT",
  "PORTER_ENV_FILE"
])

/**
 * The environment a coding agent runs with: the machine's minus `hiddenFromAgent`; with a model gateway, every CLI's
 * base URL and key variables pointing at it with the gateway credential (over any the machine had); plus `extra`.
 */
export const agentEnvironment = (
  env: MachineEnv,
  extra: Readonly<Record<string, string>>
): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(env.raw)) {
    if (!hiddenFromAgent.has(name) && !name.startsWith("GIT_CONFIG_")) out[name] = value
  }
  const gateway = env.gatewayUrl !== undefined && env.gatewayToken !== undefined
    ? Providers.clientEnvironment(env.gatewayUrl, Redacted.value(env.gatewayToken))
    : {}
  return {
    ...out,
    ...gateway,
    GIT_TERMINAL_PROMPT: "0",
    GIT_AUTHOR_NAME: env.gitName,
    GIT_AUTHOR_EMAIL: env.gitEmail,
    GIT_COMMITTER_NAME: env.gitName,
    GIT_COMMITTER_EMAIL: env.gitEmail,
    ...extra
  }
}

/**
 * Agents: the coding-agent CLIs Porter can run, and how to run them non-interactively.
 * The catalog is shared by the dispatcher (which secrets to send) and the runner (what to exec).
 */
import { Schema } from "effect"

/** An agent's name as commands and settings write it: lowercase letters, digits and hyphens, up to 32. */
export const AgentName = Schema.String.pipe(
  Schema.check(Schema.isPattern(/^[a-z][a-z0-9-]{0,31}$/)),
  Schema.brand("AgentName")
)
/** An agent's name as commands and settings write it: lowercase letters, digits and hyphens, up to 32. */
export type AgentName = typeof AgentName.Type

/** One secret an agent needs; any of `names` will do (an API key or an OAuth token, say). */
export interface SecretRequirement {
  readonly names: ReadonlyArray<string>
  /** Optional secrets are passed through when set (base-URL overrides, org ids) and never block a run. */
  readonly optional?: boolean
}

/** How the runner reads the agent's output. */
export type AgentOutput =
  /** Claude Code's `--output-format json`: a final JSON object with `result`, `usage`, `total_cost_usd`. */
  | "claude-json"
  /** Plain text; the last lines become the summary. */
  | "text"

/** How the runner starts an agent's CLI: command, arguments, extra environment, where the prompt goes. */
export interface AgentInvocation {
  readonly command: string
  readonly args: ReadonlyArray<string>
  /** Extra environment for the CLI (non-secret). */
  readonly env?: Readonly<Record<string, string>>
  /** Where the prompt goes: as an argument (already in `args`) or on standard input. */
  readonly prompt: "argument" | "stdin"
}

/** An agent Porter can run: its names, the secrets it needs, and how its CLI is invoked. */
export interface AgentSpec {
  readonly name: string
  readonly aliases: ReadonlyArray<string>
  readonly displayName: string
  readonly description: string
  /**
   * The provider keys the agent runs with. They stay in Porter: the machine gets the task's gateway credential and
   * base URLs pointing at Porter's model gateway, which attaches the key (`keysOnMachine` agents excepted). A run
   * without a required one fails before any machine starts.
   */
  readonly secrets: ReadonlyArray<SecretRequirement>
  /**
   * The CLI talks to a service of its own, not to a model API the gateway speaks (Amp): its keys go on the machine,
   * and its calls are not metered (the status comment and `porter doctor` say so).
   */
  readonly keysOnMachine?: boolean
  /** `false` when the CLI cannot be told a model: `--model` is refused for it. Default `true`. */
  readonly acceptsModel?: boolean
  /** The environment variable that points the CLI at another API endpoint (a proxy, a local model server). */
  readonly baseUrlEnv?: string
  readonly defaultModel?: string
  readonly output: AgentOutput
  /** npm package and pinned version installed in the runner image (`undefined`: built into the runner). */
  readonly npmPackage?: { readonly name: string; readonly version: string }
  /**
   * The CLI can resume a session it saved (Claude Code: `--resume <id>` with its session file): `@porter continue`
   * hands it the earlier task's session. Agents without it start afresh with the earlier summary and diff.
   */
  readonly resumes?: boolean
  /**
   * The non-interactive invocation. `model` is the requested model or the default; `session` (only for agents that
   * `resumes`): the id the run's session is saved under, and whether to resume the saved session of that id.
   */
  readonly invocation: (input: {
    readonly prompt: string
    readonly model: string | undefined
    readonly session?: { readonly id: string; readonly resume: boolean } | undefined
  }) => AgentInvocation
}

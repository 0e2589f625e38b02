/**
 * The agent catalog: agent name or alias → how to run it. Built-in: claude, opencode, codex,
 * amp, gemini and the deterministic `script` agent. Users add or override entries with
 * `layerWith`. Every agent but Amp reaches its model through Porter's gateway: its keys never go to the machine.
 *
 * Prompts go to the CLIs on standard input where they read it (Claude Code, Codex, Gemini CLI, the script agent):
 * no command-line limit applies. OpenCode and Amp take it as one argument, which `MachineEnv.MAX_PROMPT_LENGTH`
 * (64 KiB) keeps under Linux's 128 KiB per argument.
 */
import { Context, Layer, Option } from "effect"
import type { AgentSpec } from "./Agent.ts"

/** The agents Porter knows, by name or alias. */
export class AgentCatalog extends Context.Service<AgentCatalog, {
  /** Looks a name or alias up (case-insensitive). */
  readonly resolve: (nameOrAlias: string) => Option.Option<AgentSpec>
  readonly list: ReadonlyArray<AgentSpec>
}>()("@porter/core/AgentCatalog") {}

/** Marker command the runner executes itself instead of spawning a CLI. */
export const SCRIPT_AGENT_COMMAND = "@porter/script-agent"

const withModel = (model: string | undefined, flag: string): ReadonlyArray<string> =>
  model === undefined ? [] : [flag, model]

/** Anthropic's Claude Code CLI. */
export const claude: AgentSpec = {
  name: "claude",
  aliases: ["claude-code", "cc"],
  displayName: "Claude Code",
  description: "Anthropic's Claude Code CLI (`claude -p`)",
  // A stored base URL (optional) redirects the gateway's calls for whoever holds it (a proxy, a compatible API).
  secrets: [
    { names: ["ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN"] },
    { names: ["ANTHROPIC_BASE_URL"], optional: true }
  ],
  baseUrlEnv: "ANTHROPIC_BASE_URL",
  defaultModel: "sonnet",
  output: "claude-json",
  npmPackage: { name: "@anthropic-ai/claude-code", version: "2.1.330" },
  // Its sessions are files under `~/.claude/projects/<cwd>/<id>.jsonl`, named with `--session-id <uuid>`; `--resume
  // <id>` picks one up (`@porter continue`).
  resumes: true,
  // `-p` without a prompt argument reads the prompt from standard input.
  invocation: ({ model, session }) => ({
    command: "claude",
    args: [
      "-p",
      "--output-format",
      "json",
      "--dangerously-skip-permissions",
      ...withModel(model, "--model"),
      ...(session === undefined ? [] : session.resume ? ["--resume", session.id] : ["--session-id", session.id])
    ],
    // Claude Code refuses --dangerously-skip-permissions as root unless told it is sandboxed;
    // a Porter machine is a sandbox by construction.
    env: { IS_SANDBOX: "1", DISABLE_AUTOUPDATER: "1", CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1" },
    prompt: "stdin"
  })
}

/** The OpenCode CLI (Anthropic or OpenAI models). */
export const opencode: AgentSpec = {
  name: "opencode",
  aliases: ["open-code", "oc"],
  displayName: "OpenCode",
  description: "SST's OpenCode CLI (`opencode run`)",
  // Through the gateway with an Anthropic or OpenAI key (the runner writes OpenCode's provider configuration).
  secrets: [
    { names: ["ANTHROPIC_API_KEY", "OPENAI_API_KEY"] },
    { names: ["ANTHROPIC_BASE_URL", "OPENAI_BASE_URL"], optional: true }
  ],
  baseUrlEnv: "ANTHROPIC_BASE_URL",
  defaultModel: "anthropic/claude-sonnet-4-5",
  output: "text",
  npmPackage: { name: "opencode-ai", version: "1.18.33" },
  invocation: ({ prompt, model }) => ({
    command: "opencode",
    args: ["run", ...withModel(model, "--model"), prompt],
    prompt: "argument"
  })
}

/** OpenAI's Codex CLI. */
export const codex: AgentSpec = {
  name: "codex",
  aliases: ["openai-codex"],
  displayName: "Codex",
  description: "OpenAI's Codex CLI (`codex exec`)",
  secrets: [{ names: ["OPENAI_API_KEY", "CODEX_API_KEY"] }, { names: ["OPENAI_BASE_URL"], optional: true }],
  baseUrlEnv: "OPENAI_BASE_URL",
  defaultModel: "gpt-5-codex",
  output: "text",
  npmPackage: { name: "@openai/codex", version: "0.169.0" },
  // Its sessions are rollout files under `$CODEX_HOME/sessions/<yyyy>/<mm>/<dd>/`; `exec resume --last --all` picks up
  // the newest (on a continuation's machine, the one restored).
  resumes: true,
  // `codex exec -` reads the instructions from standard input.
  invocation: ({ model, session }) => ({
    command: "codex",
    args: [
      "exec",
      ...(session?.resume === true ? ["resume", "--last", "--all"] : []),
      "--dangerously-bypass-approvals-and-sandbox",
      "--skip-git-repo-check",
      ...withModel(model, "--model"),
      "-"
    ],
    prompt: "stdin"
  })
}

/** The Amp CLI (its key goes to the machine: Amp talks only to its own service). */
export const amp: AgentSpec = {
  name: "amp",
  aliases: ["ampcode"],
  displayName: "Amp",
  description: "Sourcegraph's Amp CLI (`amp -x`)",
  // Amp's CLI talks only to Amp's own service (not a model API Porter's gateway speaks): its key stays on the machine,
  // and it cannot be told a model.
  secrets: [{ names: ["AMP_API_KEY"] }, { names: ["AMP_URL"], optional: true }],
  keysOnMachine: true,
  acceptsModel: false,
  baseUrlEnv: "AMP_URL",
  output: "text",
  npmPackage: { name: "@sourcegraph/amp", version: "0.0.1790142911-g7618fb" },
  invocation: ({ prompt }) => ({
    command: "amp",
    args: ["--dangerously-allow-all", "-x", prompt],
    prompt: "argument"
  })
}

/** Google's Gemini CLI. */
export const gemini: AgentSpec = {
  name: "gemini",
  aliases: ["gemini-cli"],
  displayName: "Gemini CLI",
  description: "Google's Gemini CLI (`gemini -p`)",
  secrets: [{ names: ["GEMINI_API_KEY", "GOOGLE_API_KEY"] }, { names: ["GOOGLE_GEMINI_BASE_URL"], optional: true }],
  baseUrlEnv: "GOOGLE_GEMINI_BASE_URL",
  defaultModel: "gemini-2.5-pro",
  output: "text",
  npmPackage: { name: "@google/gemini-cli", version: "0.61.0" },
  // Headless `-p` appends its text to standard input, where the prompt is.
  invocation: ({ model }) => ({
    command: "gemini",
    args: ["--yolo", ...withModel(model, "--model"), "-p", "Do what the text above asks."],
    prompt: "stdin"
  })
}

/**
 * The deterministic agent for demos and tests. Without a script it appends one line with the
 * instruction to `PORTER_SCRIPT.md`; a fenced ```porter-script block in the instructions scripts
 * steps instead (see `ScriptAgent` in `@porter/runner`).
 */
export const script: AgentSpec = {
  name: "script",
  aliases: ["scripted"],
  displayName: "Script",
  description: "A deterministic agent for demos and tests (no model, no secrets)",
  secrets: [],
  acceptsModel: false,
  output: "text",
  invocation: ({ prompt }) => ({
    command: SCRIPT_AGENT_COMMAND,
    args: [],
    prompt: "stdin",
    env: { PORTER_SCRIPT_PROMPT_BYTES: String(prompt.length) }
  })
}

/** Every agent Porter ships: claude, opencode, codex, amp, gemini and the script agent. */
export const builtInAgents: ReadonlyArray<AgentSpec> = [claude, opencode, codex, amp, gemini, script]

/** A catalog over `agents`; later entries override earlier ones with the same name. */
export const make = (agents: ReadonlyArray<AgentSpec>): AgentCatalog["Service"] => {
  const byName = new Map<string, AgentSpec>()
  for (const agent of agents) byName.set(agent.name.toLowerCase(), agent)
  const list = [...byName.values()]
  const index = new Map<string, AgentSpec>()
  for (const agent of list) {
    for (const alias of agent.aliases) index.set(alias.toLowerCase(), agent)
  }
  for (const agent of list) index.set(agent.name.toLowerCase(), agent)
  return AgentCatalog.of({
    resolve: (nameOrAlias) => Option.fromNullishOr(index.get(nameOrAlias.toLowerCase())),
    list
  })
}

/** The built-in agents. */
export const layer: Layer.Layer<AgentCatalog> = Layer.succeed(AgentCatalog, make(builtInAgents))

/** The built-in agents plus `extra` (same name: `extra` wins). */
export const layerWith = (extra: ReadonlyArray<AgentSpec>): Layer.Layer<AgentCatalog> =>
  Layer.succeed(AgentCatalog, make([...builtInAgents, ...extra]))

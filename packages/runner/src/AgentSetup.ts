/**
 * AgentSetup: the per-CLI configuration files a headless run needs and the catalog's invocation
 * cannot pass as flags, written into the agent's HOME before it starts — only when absent, so a
 * machine (or a custom image) that ships its own configuration keeps it; a file an earlier run of the runner wrote is
 * written again (machines that share a HOME, like a local stack's processes: it names that task's gateway URL).
 *
 * - codex: Codex 0.169 ignores `OPENAI_BASE_URL`; when it is set, `$CODEX_HOME/config.toml`
 *   (default `~/.codex`) declares a provider with that base URL (Responses API, key from
 *   `OPENAI_API_KEY` or `CODEX_API_KEY`), so the catalog's `baseUrlEnv` works.
 * - gemini: headless Gemini CLI refuses to start without a chosen auth method and downgrades
 *   `--yolo` in an untrusted folder; `~/.gemini/settings.json` selects API-key auth and turns the
 *   folder-trust gate off (the machine is disposable and the clone is the task's).
 * - opencode: its Anthropic and OpenAI providers pointed at `ANTHROPIC_BASE_URL` (+ `/v1`) and `OPENAI_BASE_URL` —
 *   Porter's model gateway on a Porter machine — in `$XDG_CONFIG_HOME/opencode/opencode.json` (default
 *   `~/.config`), the keys read from the environment (`{env:…}`: the file holds no credential).
 */
import { Effect } from "effect"
import { FileSystem } from "effect/FileSystem"
import { Path } from "effect/Path"

/** What the setup wrote into the agent's HOME. */
export interface Prepared {
  /** Files written (for the log). */
  readonly written: ReadonlyArray<string>
}

/** The first line of a file the runner writes (a later run writes it again). */
const OWN = "# Written by the Porter runner"

const writeIfAbsent = Effect.fnUntraced(function*(file: string, content: string) {
  const fs = yield* FileSystem
  const path = yield* Path
  if (yield* fs.exists(file)) {
    const existing = yield* fs.readFileString(file).pipe(Effect.orElseSucceed(() => ""))
    if (!content.startsWith(OWN) || !existing.startsWith(OWN) || existing === content) return false
  }
  yield* fs.makeDirectory(path.dirname(file), { recursive: true })
  yield* fs.writeFileString(file, content, { mode: 0o600 })
  return true
})

/** The codex provider for a custom OpenAI-compatible endpoint. */
export const codexConfig = (baseUrl: string, envKey: string): string =>
  [
    `${OWN}: OPENAI_BASE_URL as a Codex provider.`,
    "model_provider = \"porter\"",
    "",
    "[model_providers.porter]",
    "name = \"porter\"",
    `base_url = ${JSON.stringify(baseUrl.replace(/\/+$/, ""))}`,
    `env_key = ${JSON.stringify(envKey)}`,
    "wire_api = \"responses\"",
    ""
  ].join("\n")

/** Gemini CLI's `settings.json` for a headless run. */
export const geminiSettings = (): string =>
  JSON.stringify({ security: { auth: { selectedType: "gemini-api-key" }, folderTrust: { enabled: false } } }, null, 2) +
  "\n"

/** OpenCode's providers at these base URLs (Anthropic's without its `/v1`, as `ANTHROPIC_BASE_URL` has it). */
export const opencodeConfig = (anthropicBaseUrl: string | undefined, openaiBaseUrl: string | undefined): string => {
  const provider: Record<string, unknown> = {}
  if (anthropicBaseUrl) {
    provider["anthropic"] = {
      options: { baseURL: `${anthropicBaseUrl.replace(/\/+$/, "")}/v1`, apiKey: "{env:ANTHROPIC_API_KEY}" }
    }
  }
  if (openaiBaseUrl) {
    provider["openai"] = { options: { baseURL: openaiBaseUrl.replace(/\/+$/, ""), apiKey: "{env:OPENAI_API_KEY}" } }
  }
  return JSON.stringify({ $schema: "https://opencode.ai/config.json", provider }, null, 2) + "\n"
}

/** Prepares `agent`'s configuration in the environment it will run with. */
export const prepare = Effect.fnUntraced(function*(agent: string, env: Readonly<Record<string, string>>) {
  const path = yield* Path
  const home = env["HOME"]
  const written: Array<string> = []
  if (home === undefined || home === "") return { written }
  if (agent === "codex" && env["OPENAI_BASE_URL"]) {
    const file = path.join(env["CODEX_HOME"] || path.join(home, ".codex"), "config.toml")
    const key = env["OPENAI_API_KEY"] ? "OPENAI_API_KEY" : "CODEX_API_KEY"
    if (yield* writeIfAbsent(file, codexConfig(env["OPENAI_BASE_URL"], key))) written.push(file)
  }
  if (agent === "opencode" && (env["ANTHROPIC_BASE_URL"] || env["OPENAI_BASE_URL"])) {
    const file = path.join(env["XDG_CONFIG_HOME"] || path.join(home, ".config"), "opencode", "opencode.json")
    if (yield* writeIfAbsent(file, opencodeConfig(env["ANTHROPIC_BASE_URL"], env["OPENAI_BASE_URL"]))) {
      written.push(file)
    }
  }
  if (agent === "gemini" && (env["GEMINI_API_KEY"] || env["GOOGLE_API_KEY"])) {
    const file = path.join(home, ".gemini", "settings.json")
    if (yield* writeIfAbsent(file, geminiSettings())) written.push(file)
  }
  return { written } satisfies Prepared
})

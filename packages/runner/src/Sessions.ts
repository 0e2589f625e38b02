/**
 * Agent sessions on the machine: where a CLI keeps the record of its conversation, so the runner can hand it to Porter
 * after the run (`@porter continue` resumes it) and put an earlier one back before a resumed run; and the run's
 * transcript, rendered from the session for people to read.
 *
 * - Claude Code keeps each session in `~/.claude/projects/<cwd, every character but letters and digits as "-">/<id>.jsonl`
 *   (one JSON object a line) and resumes one with `--resume <id>` from any directory whose project folder holds it
 *   (checked with the pinned CLI: the conversation is sent again to the model, and the id is kept). The runner names
 *   the session itself (`--session-id`), so a run cut short at its deadline still has a known file.
 * - Codex keeps rollout files under `$CODEX_HOME/sessions/<yyyy>/<mm>/<dd>/rollout-…-<id>.jsonl` (`CODEX_HOME`
 *   defaults to `~/.codex`): after a run the newest one written since the agent started is its session; it is put
 *   back under the same relative path, and `codex exec resume --last --all` resumes the newest (the only one there).
 *
 * Cannot: resume OpenCode's, Gemini CLI's or Amp's sessions (their continuations start afresh with the earlier summary
 * and diff); render other formats than these two (the transcript is then the run's log).
 */
import { Effect, Option } from "effect"
import { FileSystem } from "effect/FileSystem"
import { Path } from "effect/Path"

/** A session as the machine hands it over: what the CLI knows it by (or its path), and its text. */
export interface Saved {
  readonly name: string
  readonly content: string
}

/** Where the agent runs: its home directory, working directory and environment. */
export interface Place {
  readonly home: string
  readonly cwd: string
  readonly env: Readonly<Record<string, string | undefined>>
}

/** How one CLI keeps its sessions. */
export interface Kind {
  /** The id to give a new session (`undefined`: the CLI names its own). */
  readonly newId: () => string | undefined
  /** After a run that started at `since` (epoch millis): its session, if the CLI wrote one. */
  readonly read: (
    place: Place,
    id: string | undefined,
    since: number
  ) => Effect.Effect<Option.Option<Saved>, never, FileSystem | Path>
  /** Puts an earlier session back; the id to resume it by. */
  readonly restore: (place: Place, saved: Saved) => Effect.Effect<string, unknown, FileSystem | Path>
  /** The session as Markdown for people to read. */
  readonly transcript: (content: string) => string
}

/** Claude Code's project folder name for a working directory. */
export const claudeProjectName = (cwd: string): string => cwd.replace(/[^A-Za-z0-9]/g, "-")

/** The file of Claude Code session `id` for a run in `cwd` with `home`. */
export const claudeSessionFile = (home: string, cwd: string, id: string): string =>
  `${home.replace(/\/+$/, "")}/.claude/projects/${claudeProjectName(cwd)}/${id}.jsonl`

const writeFile = Effect.fnUntraced(function*(file: string, content: string) {
  const fs = yield* FileSystem
  const path = yield* Path
  yield* fs.makeDirectory(path.dirname(file), { recursive: true })
  yield* fs.writeFileString(file, content)
})

const MAX_BLOCK = 4_000
const clip = (text: string): string => (text.length > MAX_BLOCK ? `${text.slice(0, MAX_BLOCK)}\n[… clipped]` : text)

const fenced = (text: string): string => {
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((m) => m[0].length))
  const fence = "`".repeat(longest + 1)
  return `${fence}\n${text}\n${fence}`
}

const textOf = (content: unknown): string =>
  typeof content === "string"
    ? content
    : Array.isArray(content)
    ? content.map((part) =>
      typeof part === "object" && part !== null && "text" in part && typeof part.text === "string" ? part.text : ""
    ).filter((t) => t.length > 0).join("\n")
    : ""

const linesOf = (jsonl: string): ReadonlyArray<Record<string, unknown>> =>
  jsonl.split("\n").flatMap((raw) => {
    if (raw.trim() === "") return []
    try {
      const value = JSON.parse(raw) as unknown
      return typeof value === "object" && value !== null ? [value as Record<string, unknown>] : []
    } catch {
      return []
    }
  })

const said = (who: string, text: string) => [`### ${who}`, "", clip(text), ""]
const called = (name: string, input: unknown) => [
  `### Tool call: ${name}`,
  "",
  fenced(clip(typeof input === "string" ? input : JSON.stringify(input, null, 2))),
  ""
]
const answered = (output: string) => ["### Tool result", "", fenced(clip(output)), ""]

/**
 * A Claude Code session as Markdown: each user and assistant message, each tool call with its input, each tool result
 * (long blocks clipped). Lines that are not messages (queue operations, summaries) are left out.
 */
export const claudeTranscript = (jsonl: string): string => {
  const out: Array<string> = []
  for (const entry of linesOf(jsonl)) {
    const message = entry["message"] as { content?: unknown } | undefined
    if ((entry["type"] !== "user" && entry["type"] !== "assistant") || message === undefined) continue
    const parts = Array.isArray(message.content) ? message.content : [{ type: "text", text: textOf(message.content) }]
    for (const part of parts as ReadonlyArray<Record<string, unknown>>) {
      if (part["type"] === "text" && typeof part["text"] === "string" && part["text"].trim() !== "") {
        out.push(said(entry["type"] === "user" ? "User" : "Assistant", part["text"]).join("\n"))
      } else if (part["type"] === "tool_use") {
        out.push(called(String(part["name"]), part["input"]).join("\n"))
      } else if (part["type"] === "tool_result") {
        out.push(answered(textOf(part["content"])).join("\n"))
      }
    }
  }
  return out.join("\n")
}

/** A Codex rollout as Markdown: its messages, function and shell calls, and their outputs. */
export const codexTranscript = (jsonl: string): string => {
  const out: Array<string> = []
  for (const entry of linesOf(jsonl)) {
    const item = (entry["type"] === "response_item" ? entry["payload"] : entry) as Record<string, unknown> | undefined
    if (item === undefined || item === null) continue
    if (item["type"] === "message" && (item["role"] === "user" || item["role"] === "assistant")) {
      const text = textOf(item["content"])
      if (text.trim() !== "") out.push(said(item["role"] === "user" ? "User" : "Assistant", text).join("\n"))
    } else if (item["type"] === "function_call" || item["type"] === "custom_tool_call") {
      out.push(called(String(item["name"]), item["arguments"] ?? item["input"]).join("\n"))
    } else if (item["type"] === "local_shell_call") {
      out.push(called("shell", item["action"]).join("\n"))
    } else if (item["type"] === "function_call_output" || item["type"] === "custom_tool_call_output") {
      const output = item["output"]
      out.push(answered(typeof output === "string" ? output : JSON.stringify(output)).join("\n"))
    }
  }
  return out.join("\n")
}

const claude: Kind = {
  newId: () => crypto.randomUUID(),
  read: (place, id) =>
    id === undefined ? Effect.succeed(Option.none()) : Effect.gen(function*() {
      const fs = yield* FileSystem
      return yield* fs.readFileString(claudeSessionFile(place.home, place.cwd, id)).pipe(
        Effect.map((content) => Option.some<Saved>({ name: id, content })),
        Effect.orElseSucceed(() => Option.none<Saved>())
      )
    }),
  restore: (place, saved) =>
    Effect.as(writeFile(claudeSessionFile(place.home, place.cwd, saved.name), saved.content), saved.name),
  transcript: claudeTranscript
}

const codexSessions = (place: Place) =>
  `${(place.env["CODEX_HOME"] || `${place.home.replace(/\/+$/, "")}/.codex`).replace(/\/+$/, "")}/sessions`

/** A relative rollout path as Codex writes it (`2026/12/07/rollout-….jsonl`), nothing that climbs out. */
const ROLLOUT = /^\d{4}\/\d{2}\/\d{2}\/rollout-[A-Za-z0-9._:-]+\.jsonl$/

const codex: Kind = {
  newId: () => undefined,
  read: (place, _id, since) =>
    Effect.gen(function*() {
      const fs = yield* FileSystem
      const root = codexSessions(place)
      const files = yield* fs.readDirectory(root, { recursive: true }).pipe(Effect.orElseSucceed(() => []))
      let newest: { readonly name: string; readonly at: number } | undefined
      for (const name of files) {
        if (!ROLLOUT.test(name)) continue
        const info = yield* fs.stat(`${root}/${name}`).pipe(Effect.option)
        const at = Option.isSome(info) ? Option.getOrElse(info.value.mtime, () => new Date(0)).getTime() : 0
        if (at >= since - 1_000 && (newest === undefined || at > newest.at)) newest = { name, at }
      }
      if (newest === undefined) return Option.none<Saved>()
      const name = newest.name
      return yield* fs.readFileString(`${root}/${name}`).pipe(
        Effect.map((content) => Option.some<Saved>({ name, content })),
        Effect.orElseSucceed(() => Option.none<Saved>())
      )
    }),
  restore: (place, saved) =>
    ROLLOUT.test(saved.name)
      ? Effect.as(writeFile(`${codexSessions(place)}/${saved.name}`, saved.content), saved.name)
      : Effect.fail(new Error(`${saved.name} is not a Codex rollout file`)),
  transcript: codexTranscript
}

/** How the agent's CLI keeps its sessions, when the runner can hand them over and resume them. */
export const kindOf = (agent: string): Kind | undefined =>
  agent === "claude" ? claude : agent === "codex" ? codex : undefined

/**
 * Agent sessions on the machine: where a CLI keeps the record of its conversation, so the runner can hand it to Porter
 * after the run (`@porter continue` resumes it) and put an earlier one back before a resumed run; and the run's
 * transcript, rendered from the session for people to read.
 *
 * Claude Code keeps each session in `~/.claude/projects/<cwd, every character but letters and digits as "-">/<id>.jsonl`
 * (one JSON object a line) and resumes one with `--resume <id>` from any directory whose project folder holds it
 * (checked with the pinned CLI: the conversation is sent again to the model, and the id is kept). The runner names the
 * session itself (`--session-id`), so a run cut short at its deadline still has a known file.
 *
 * Cannot: resume other CLIs' sessions (Codex, OpenCode: their continuations start afresh with the earlier summary and
 * diff); render tool calls of other formats than Claude Code's.
 */
import { Effect, Option } from "effect"
import { FileSystem } from "effect/FileSystem"
import { Path } from "effect/Path"

/** Claude Code's project folder name for a working directory. */
export const claudeProjectName = (cwd: string): string => cwd.replace(/[^A-Za-z0-9]/g, "-")

/** The file of Claude Code session `id` for a run in `cwd` with `home`. */
export const claudeSessionFile = (home: string, cwd: string, id: string): string =>
  `${home.replace(/\/+$/, "")}/.claude/projects/${claudeProjectName(cwd)}/${id}.jsonl`

/** A session id Claude Code accepts (a UUID), fresh. */
export const newSessionId = (): string => crypto.randomUUID()

/** The text of session `id` after a run in `cwd`, if the CLI wrote it. */
export const read = Effect.fnUntraced(function*(home: string, cwd: string, id: string) {
  const fs = yield* FileSystem
  return yield* fs.readFileString(claudeSessionFile(home, cwd, id)).pipe(
    Effect.map(Option.some),
    Effect.orElseSucceed(() => Option.none<string>())
  )
})

/** Puts an earlier session where the CLI will look for it from `cwd`. */
export const restore = Effect.fnUntraced(function*(home: string, cwd: string, id: string, content: string) {
  const fs = yield* FileSystem
  const path = yield* Path
  const file = claudeSessionFile(home, cwd, id)
  yield* fs.makeDirectory(path.dirname(file), { recursive: true })
  yield* fs.writeFileString(file, content)
  return file
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

/**
 * A Claude Code session as Markdown: each user and assistant message, each tool call with its input, each tool result
 * (long blocks clipped). Lines that are not messages (queue operations, summaries) are left out.
 */
export const claudeTranscript = (jsonl: string): string => {
  const out: Array<string> = []
  for (const raw of jsonl.split("\n")) {
    if (raw.trim() === "") continue
    let entry: { type?: unknown; message?: { role?: unknown; content?: unknown } }
    try {
      entry = JSON.parse(raw)
    } catch {
      continue
    }
    if ((entry.type !== "user" && entry.type !== "assistant") || entry.message === undefined) continue
    const content = entry.message.content
    const parts = Array.isArray(content) ? content : [{ type: "text", text: textOf(content) }]
    for (const part of parts as ReadonlyArray<Record<string, unknown>>) {
      if (part["type"] === "text" && typeof part["text"] === "string" && part["text"].trim() !== "") {
        out.push(`### ${entry.type === "user" ? "User" : "Assistant"}`, "", clip(part["text"]), "")
      } else if (part["type"] === "tool_use") {
        out.push(`### Tool call: ${String(part["name"])}`, "", fenced(clip(JSON.stringify(part["input"], null, 2))), "")
      } else if (part["type"] === "tool_result") {
        out.push("### Tool result", "", fenced(clip(textOf(part["content"]))), "")
      }
    }
  }
  return out.join("\n")
}

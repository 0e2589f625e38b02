/**
 * Maps a script's abstract actions onto the tools an agent CLI declared in its request, by name
 * and by the property names of each tool's JSON schema. Known shapes: Claude Code (`Write`
 * `{file_path, content}`, `Bash` `{command, description}`), OpenCode (`write` `{filePath, content}`,
 * `bash`), Gemini CLI (`write_file`, `run_shell_command`), Codex (`shell` with an argv array).
 */
import type { Action } from "./Script.ts"

/** A tool the agent CLI declared in its request, with its input schema. */
export interface DeclaredTool {
  readonly name: string
  /** The tool's JSON schema for its input (`input_schema`, `parameters`). */
  readonly schema: unknown
}

/** A tool call the script makes, in the agent's own tool names. */
export interface ToolCall {
  readonly name: string
  readonly input: Readonly<Record<string, unknown>>
}

const WRITE_TOOLS = ["Write", "write", "write_file", "create_file", "writeFile", "edit_file"]
const SHELL_TOOLS = ["Bash", "bash", "shell", "run_shell_command", "exec_command", "local_shell", "execute_command"]

const propertiesOf = (schema: unknown): Record<string, { readonly type?: unknown }> => {
  if (typeof schema !== "object" || schema === null) return {}
  const properties = (schema as { readonly properties?: unknown }).properties
  return typeof properties === "object" && properties !== null
    ? (properties as Record<string, { readonly type?: unknown }>)
    : {}
}

const pick = (properties: Record<string, unknown>, candidates: ReadonlyArray<string>, fallback: string): string =>
  candidates.find((c) => c in properties) ?? fallback

const find = (tools: ReadonlyArray<DeclaredTool>, names: ReadonlyArray<string>): DeclaredTool | undefined => {
  for (const name of names) {
    const found = tools.find((t) => t.name === name)
    if (found) return found
  }
  return undefined
}

const absolute = (path: string, cwd: string | undefined): string =>
  path.startsWith("/") || cwd === undefined ? path : `${cwd.replace(/\/+$/, "")}/${path}`

const shellCall = (tool: DeclaredTool | undefined, command: string): ToolCall => {
  if (tool === undefined) return { name: "Bash", input: { command, description: "Run a scripted command" } }
  const properties = propertiesOf(tool.schema)
  const key = pick(properties, ["command", "cmd", "script"], "command")
  const wantsArray = properties[key]?.type === "array"
  const input: Record<string, unknown> = { [key]: wantsArray ? ["bash", "-lc", command] : command }
  if ("description" in properties) input["description"] = "Run a scripted command"
  return { name: tool.name, input }
}

/** The concrete tool call for `action` (a `Text` action is not a tool call: `undefined`). */
export const toToolCall = (
  action: Action,
  tools: ReadonlyArray<DeclaredTool>,
  cwd: string | undefined
): ToolCall | undefined => {
  switch (action._tag) {
    case "Text":
      return undefined
    case "Tool":
      return { name: action.name, input: action.input }
    case "Bash":
      return shellCall(find(tools, SHELL_TOOLS), action.command)
    case "Write": {
      const tool = find(tools, WRITE_TOOLS)
      const path = absolute(action.path, cwd)
      if (tool === undefined) {
        const shell = find(tools, SHELL_TOOLS)
        if (shell !== undefined) {
          // No file tool: write through the shell.
          const quoted = `'${path.replaceAll("'", "'\\''")}'`
          return shellCall(
            shell,
            `mkdir -p "$(dirname ${quoted})" && cat > ${quoted} <<'PORTER_EOF'\n${action.content}\nPORTER_EOF`
          )
        }
        return { name: "Write", input: { file_path: path, content: action.content } }
      }
      const properties = propertiesOf(tool.schema)
      const pathKey = pick(properties, ["file_path", "filePath", "path", "absolute_path", "filename"], "file_path")
      const contentKey = pick(properties, ["content", "contents", "text", "file_text"], "content")
      return { name: tool.name, input: { [pathKey]: path, [contentKey]: action.content } }
    }
  }
}

/** The agent's working directory, as CLIs state it in their system prompt. */
export const cwdIn = (text: string): string | undefined => {
  const patterns = [
    /Primary working directory:\s*(\S+)/,
    /<cwd>\s*([^<\s]+)\s*<\/cwd>/,
    /(?:current )?working directory(?: is)?:?\s*`?(\/[^\s`'"]+)/i
  ]
  for (const pattern of patterns) {
    const match = pattern.exec(text)
    if (match) return match[1]
  }
  return undefined
}

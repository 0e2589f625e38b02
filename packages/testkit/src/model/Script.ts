/**
 * The script a model server plays: a list of turns, one per model response. A turn is a few
 * actions — write a file, run a shell command, any tool call, some text. A turn without a tool
 * call ends the agent's run (its text is the final answer); after the last turn the server keeps
 * answering with `finalText`.
 *
 * `write` and `bash` are abstract: each server maps them onto whatever tools the CLI declared in
 * its request (Claude Code's `Write {file_path, content}` and `Bash {command}`, an OpenAI-style
 * `write_file`/`shell`, …), so one script drives any agent CLI.
 */

export type Action =
  | { readonly _tag: "Write"; readonly path: string; readonly content: string }
  | { readonly _tag: "Bash"; readonly command: string }
  | { readonly _tag: "Tool"; readonly name: string; readonly input: Readonly<Record<string, unknown>> }
  | { readonly _tag: "Text"; readonly text: string }

/** One model response. */
export type Turn = ReadonlyArray<Action>

/** Writes `content` to `path` (relative paths are resolved against the agent's working directory). */
export const write = (path: string, content: string): Action => ({ _tag: "Write", path, content })

/** Runs a shell command through the CLI's shell tool. */
export const bash = (command: string): Action => ({ _tag: "Bash", command })

/** Calls a tool by its exact name with exactly this input (no mapping). */
export const tool = (name: string, input: Readonly<Record<string, unknown>>): Action => ({ _tag: "Tool", name, input })

/** Text in a response; alone in a turn it is the final answer. */
export const text = (text: string): Action => ({ _tag: "Text", text })

/** Normalises a script written as turns or single actions. */
export const turnsOf = (script: ReadonlyArray<Turn | Action>): ReadonlyArray<Turn> =>
  script.map((entry) => (isTurn(entry) ? entry : [entry]))

const isTurn = (entry: Turn | Action): entry is Turn => Array.isArray(entry)

export const isToolAction = (action: Action): boolean => action._tag !== "Text"

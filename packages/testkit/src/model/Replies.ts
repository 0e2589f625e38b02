/**
 * What the scripted model server's API handlers (`Anthropic.ts`, `OpenAi.ts`, `Gemini.ts`) share: the reply a script
 * turn plans (its texts and tool calls), the server playing the script as a handler uses it (`Player`: plan, count
 * usage, make ids), JSON and server-sent-event answers, and the token estimate.
 */
import type { ServerResponse } from "node:http"
import type { DeclaredTool, ToolCall } from "./Tools.ts"

/** ≈ 4 characters per token: deterministic, close enough for cost plumbing tests. */
export const tokensOf = (value: unknown): number =>
  Math.max(1, Math.ceil((typeof value === "string" ? value : JSON.stringify(value ?? "")).length / 4))

export const json = (response: ServerResponse, status: number, body: unknown) => {
  response.writeHead(status, { "content-type": "application/json" })
  response.end(JSON.stringify(body))
}

export const sse = (response: ServerResponse) => {
  response.writeHead(200, {
    "content-type": "text/event-stream",
    "cache-control": "no-cache",
    connection: "keep-alive"
  })
  return {
    event: (name: string | undefined, data: unknown) =>
      response.write(
        `${name !== undefined ? `event: ${name}\n` : ""}data: ${
          typeof data === "string" ? data : JSON.stringify(data)
        }\n\n`
      ),
    end: () => response.end()
  }
}

/** One reply: the script turn it plays (`undefined`: a side request), its texts and tool calls. */
export interface Planned {
  readonly turn: number | undefined
  readonly texts: ReadonlyArray<string>
  readonly calls: ReadonlyArray<ToolCall>
}

/** The server playing the script, as the handlers use it. */
export interface Player {
  /** The reply after `modelTurns` model turns, with these tools declared (`context`: where the working directory is). */
  readonly plan: (modelTurns: number, tools: ReadonlyArray<DeclaredTool>, context: unknown) => Planned
  /** Adds one answer's tokens to the usage. */
  readonly count: (input: number, output: number) => void
  /** A new id such as `msg_scripted_000001` (one sequence for every prefix). */
  readonly nextId: (prefix: string) => string
}

/** Records the request being answered, with the script turn that answered it. */
export type RecordTurn = (turn: number | undefined) => void

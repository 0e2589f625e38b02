/**
 * A scripted model server on loopback for running real agent CLIs offline and deterministically.
 * One server speaks
 *
 * - the Anthropic Messages API: `POST /v1/messages` (streaming SSE and JSON, `tool_use` blocks),
 *   `POST /v1/messages/count_tokens` — for Claude Code (`ANTHROPIC_BASE_URL=<url>`);
 * - the OpenAI API: `POST /v1/chat/completions` (streaming and JSON, `tool_calls`),
 *   `POST /v1/responses` (streaming and JSON, `function_call` items), `GET /v1/models` — for
 *   OpenAI-compatible CLIs (`OPENAI_BASE_URL=<url>/v1`);
 * - the Gemini API: `POST /v1beta/models/<model>:generateContent` and `:streamGenerateContent`
 *   (`GOOGLE_GEMINI_BASE_URL=<url>`).
 *
 * Each response plays the next turn of the script; which turn is next is read from the
 * conversation the client sends (the number of model turns in it), so client retries replay the
 * same turn. Requests that declare no tools (titles, summaries, probes) get a short text and do
 * not advance the script. Token usage is counted (≈ 4 characters a token) and reported in every
 * response; `usage()` sums it. It is not a model: it answers the script whatever the prompt says.
 *
 * This module plans the replies and routes the requests; each API's shapes are in `Anthropic.ts`, `OpenAi.ts` and
 * `Gemini.ts`, what they share in `Replies.ts`.
 */
import { Effect, type Scope } from "effect"
import { createServer, type IncomingMessage } from "node:http"
import type { AddressInfo } from "node:net"
import * as Anthropic from "./Anthropic.ts"
import * as Gemini from "./Gemini.ts"
import * as OpenAi from "./OpenAi.ts"
import { json, type Planned, type Player, tokensOf } from "./Replies.ts"
import { type Action, text as textAction, type Turn, turnsOf } from "./Script.ts"
import { cwdIn, type DeclaredTool, type ToolCall, toToolCall } from "./Tools.ts"

export { tokensOf } from "./Replies.ts"

export type Api = "anthropic" | "openai-chat" | "openai-responses" | "gemini" | "other"

export interface RecordedRequest {
  readonly api: Api
  readonly method: string
  readonly path: string
  readonly headers: Readonly<Record<string, string | Array<string> | undefined>>
  readonly body: unknown
  /** Which script turn answered it (`undefined`: a side request or not a model call). */
  readonly turn: number | undefined
}

export interface Usage {
  /** Model calls answered (script turns and side requests). */
  readonly responses: number
  readonly inputTokens: number
  readonly outputTokens: number
}

export interface Options {
  /** The turns to play, in order. */
  readonly script: ReadonlyArray<Turn | Action>
  /** Answer once the script is exhausted (default "Done."). */
  readonly finalText?: string
  /** The agent's working directory for relative `write` paths (default: read from the system prompt). */
  readonly cwd?: string
  /** Answer the first N model calls with HTTP 529 "overloaded" (exercises client retries). */
  readonly overloadedFirst?: number
  readonly port?: number
}

export interface Server {
  /** `http://127.0.0.1:PORT` — Anthropic and Gemini base URL; OpenAI clients use `${url}/v1`. */
  readonly url: string
  readonly requests: () => ReadonlyArray<RecordedRequest>
  readonly usage: () => Usage
  /** Replaces the script (and restarts the count of overloaded answers). */
  readonly setScript: (script: ReadonlyArray<Turn | Action>) => void
  readonly close: () => Promise<void>
}

/** Every text of a JSON value, concatenated (to find the working directory in a system prompt). */
const allText = (value: unknown): string => {
  if (typeof value === "string") return value
  if (Array.isArray(value)) return value.map(allText).join("\n")
  if (typeof value === "object" && value !== null) return Object.values(value).map(allText).join("\n")
  return ""
}

const readBody = (request: IncomingMessage) =>
  new Promise<string>((resolve, reject) => {
    const chunks: Array<Buffer> = []
    request.on("data", (c: Buffer) => chunks.push(c))
    request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
    request.on("error", reject)
  })

const makeServer = async (options: Options): Promise<Server> => {
  let turns = turnsOf(options.script)
  let overloaded = options.overloadedFirst ?? 0
  const finalText = options.finalText ?? "Done."
  const recorded: Array<RecordedRequest> = []
  let usage: Usage = { responses: 0, inputTokens: 0, outputTokens: 0 }
  let ids = 0
  const nextId = (prefix: string) => `${prefix}_scripted_${(++ids).toString().padStart(6, "0")}`

  /** The response to give after `modelTurns` model turns, with these tools declared. */
  const plan = (modelTurns: number, tools: ReadonlyArray<DeclaredTool>, context: unknown): Planned => {
    if (tools.length === 0) return { turn: undefined, texts: ["OK"], calls: [] }
    const turn: Turn = turns[modelTurns] ?? [textAction(finalText)]
    const cwd = options.cwd ?? cwdIn(allText(context))
    const texts: Array<string> = []
    const calls: Array<ToolCall> = []
    for (const action of turn) {
      if (action._tag === "Text") texts.push(action.text)
      else {
        const call = toToolCall(action, tools, cwd)
        if (call) calls.push(call)
      }
    }
    return { turn: modelTurns, texts, calls }
  }

  const count = (input: number, output: number) => {
    usage = {
      responses: usage.responses + 1,
      inputTokens: usage.inputTokens + input,
      outputTokens: usage.outputTokens + output
    }
  }

  const player: Player = { plan, count, nextId }

  const server = createServer((request, response) => {
    const parsed = new URL(request.url ?? "/", "http://localhost")
    const path = parsed.pathname.replace(/\/+$/, "")
    readBody(request).then((raw) => {
      let body: unknown = raw
      try {
        body = raw === "" ? undefined : JSON.parse(raw)
      } catch {
        // recorded as text
      }
      // Only POSTs are model calls (a GET on /v1/responses is a WebSocket upgrade: refused, clients fall back to HTTP).
      const api: Api = request.method !== "POST"
        ? "other"
        : /^(\/v1)?\/messages(\/count_tokens)?$/.test(path)
        ? "anthropic"
        : /^(\/v1)?\/chat\/completions$/.test(path)
        ? "openai-chat"
        : /^(\/v1)?\/responses$/.test(path)
        ? "openai-responses"
        : /^\/v1(beta|alpha)?\/models\/[^/]+:/.test(path)
        ? "gemini"
        : "other"
      const record = (turn: number | undefined) =>
        void recorded.push({
          api,
          method: request.method ?? "GET",
          path: parsed.pathname + parsed.search,
          headers: request.headers,
          body,
          turn
        })
      const isModelCall = request.method === "POST" && api !== "other" && !path.endsWith("/count_tokens") &&
        !path.endsWith(":countTokens")
      if (isModelCall && overloaded > 0) {
        overloaded--
        record(undefined)
        return json(response, 529, {
          type: "error",
          error: { type: "overloaded_error", message: "Overloaded (scripted)" }
        })
      }
      if (/^(\/v1)?\/messages\/count_tokens$/.test(path)) {
        record(undefined)
        return json(response, 200, { input_tokens: tokensOf(body) })
      }
      if (api === "anthropic") return Anthropic.messages(player, response, body, record)
      if (api === "openai-chat") return OpenAi.chatCompletions(player, response, body, record)
      if (api === "openai-responses") return OpenAi.responses(player, response, body, record)
      if (api === "gemini") return Gemini.generateContent(player, response, path, parsed.searchParams, body, record)
      record(undefined)
      if (request.method === "GET" && path.endsWith("/models")) {
        return json(response, 200, {
          object: "list",
          data: [{ id: "scripted", object: "model", created: 0, owned_by: "porter" }]
        })
      }
      return json(response, 404, { error: { message: `no route ${request.method} ${parsed.pathname}` } })
    }).catch((error: unknown) => json(response, 500, { error: { message: String(error) } }))
  })
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve())
  })
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    url,
    requests: () => [...recorded],
    usage: () => usage,
    setScript: (script) => {
      turns = turnsOf(script)
      overloaded = options.overloadedFirst ?? 0
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}

/** Starts a server for the lifetime of the scope. */
export const start = (options: Options): Effect.Effect<Server, never, Scope.Scope> =>
  Effect.acquireRelease(Effect.promise(() => makeServer(options)), (server) => Effect.promise(() => server.close()))

/** For non-Effect callers: close it yourself. */
export const startPromise = (options: Options): Promise<Server> => makeServer(options)

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
 */
import { Effect, Schema, type Scope } from "effect"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { type Action, text as textAction, type Turn, turnsOf } from "./Script.ts"
import { cwdIn, type DeclaredTool, type ToolCall, toToolCall } from "./Tools.ts"

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

/** ≈ 4 characters per token: deterministic, close enough for cost plumbing tests. */
export const tokensOf = (value: unknown): number =>
  Math.max(1, Math.ceil((typeof value === "string" ? value : JSON.stringify(value ?? "")).length / 4))

const AnthropicRequest = Schema.Struct({
  model: Schema.String,
  messages: Schema.Array(Schema.Struct({ role: Schema.String, content: Schema.Unknown })),
  system: Schema.optional(Schema.Unknown),
  tools: Schema.optional(
    Schema.Array(Schema.Struct({ name: Schema.String, input_schema: Schema.optional(Schema.Unknown) }))
  ),
  stream: Schema.optional(Schema.Boolean)
})

const ChatRequest = Schema.Struct({
  model: Schema.String,
  messages: Schema.Array(Schema.Struct({ role: Schema.String, content: Schema.optional(Schema.Unknown) })),
  tools: Schema.optional(Schema.Array(Schema.Struct({
    type: Schema.optional(Schema.String),
    function: Schema.Struct({ name: Schema.String, parameters: Schema.optional(Schema.Unknown) })
  }))),
  stream: Schema.optional(Schema.Boolean),
  stream_options: Schema.optional(Schema.Struct({ include_usage: Schema.optional(Schema.Boolean) }))
})

const ResponsesRequest = Schema.Struct({
  model: Schema.String,
  input: Schema.Union([Schema.String, Schema.Array(Schema.Unknown)]),
  instructions: Schema.optional(Schema.Unknown),
  tools: Schema.optional(Schema.Array(Schema.Struct({
    type: Schema.optional(Schema.String),
    name: Schema.optional(Schema.String),
    parameters: Schema.optional(Schema.Unknown)
  }))),
  stream: Schema.optional(Schema.Boolean)
})

const GeminiRequest = Schema.Struct({
  contents: Schema.Array(
    Schema.Struct({ role: Schema.optional(Schema.String), parts: Schema.optional(Schema.Array(Schema.Unknown)) })
  ),
  systemInstruction: Schema.optional(Schema.Unknown),
  tools: Schema.optional(Schema.Array(Schema.Struct({
    functionDeclarations: Schema.optional(Schema.Array(Schema.Struct({
      name: Schema.String,
      parameters: Schema.optional(Schema.Unknown),
      parametersJsonSchema: Schema.optional(Schema.Unknown)
    })))
  })))
})

const decodeAnthropic = Schema.decodeUnknownOption(AnthropicRequest)
const decodeChat = Schema.decodeUnknownOption(ChatRequest)
const decodeResponses = Schema.decodeUnknownOption(ResponsesRequest)
const decodeGemini = Schema.decodeUnknownOption(GeminiRequest)

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

const json = (response: ServerResponse, status: number, body: unknown) => {
  response.writeHead(status, { "content-type": "application/json" })
  response.end(JSON.stringify(body))
}

const sse = (response: ServerResponse) => {
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

interface Planned {
  readonly turn: number | undefined
  readonly texts: ReadonlyArray<string>
  readonly calls: ReadonlyArray<ToolCall>
}

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

  const anthropic = (response: ServerResponse, body: unknown, record: (turn: number | undefined) => void) => {
    const request = decodeAnthropic(body)
    if (request._tag === "None") {
      record(undefined)
      return json(response, 400, {
        type: "error",
        error: { type: "invalid_request_error", message: "not a Messages API request" }
      })
    }
    const r = request.value
    const tools = (r.tools ?? []).map((t) => ({ name: t.name, schema: t.input_schema }))
    const planned = plan(r.messages.filter((m) => m.role === "assistant").length, tools, [r.system, r.messages])
    record(planned.turn)
    const content: Array<Record<string, unknown>> = [
      ...planned.texts.map((text) => ({ type: "text", text })),
      ...planned.calls.map((call) => ({ type: "tool_use", id: nextId("toolu"), name: call.name, input: call.input }))
    ]
    const inputTokens = tokensOf([r.system, r.messages, r.tools])
    const outputTokens = tokensOf(content)
    count(inputTokens, outputTokens)
    const stopReason = planned.calls.length > 0 ? "tool_use" : "end_turn"
    const usageBody = {
      input_tokens: inputTokens,
      output_tokens: outputTokens,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0
    }
    const message = {
      id: nextId("msg"),
      type: "message",
      role: "assistant",
      model: r.model,
      content,
      stop_reason: stopReason,
      stop_sequence: null,
      usage: usageBody
    }
    if (r.stream !== true) return json(response, 200, message)
    const out = sse(response)
    out.event("message_start", {
      type: "message_start",
      message: { ...message, content: [], stop_reason: null, usage: { ...usageBody, output_tokens: 1 } }
    })
    out.event("ping", { type: "ping" })
    content.forEach((block, index) => {
      if (block["type"] === "text") {
        out.event("content_block_start", {
          type: "content_block_start",
          index,
          content_block: { type: "text", text: "" }
        })
        out.event("content_block_delta", {
          type: "content_block_delta",
          index,
          delta: { type: "text_delta", text: block["text"] }
        })
      } else {
        out.event("content_block_start", { type: "content_block_start", index, content_block: { ...block, input: {} } })
        out.event("content_block_delta", {
          type: "content_block_delta",
          index,
          delta: { type: "input_json_delta", partial_json: JSON.stringify(block["input"]) }
        })
      }
      out.event("content_block_stop", { type: "content_block_stop", index })
    })
    out.event("message_delta", {
      type: "message_delta",
      delta: { stop_reason: stopReason, stop_sequence: null },
      usage: { output_tokens: outputTokens }
    })
    out.event("message_stop", { type: "message_stop" })
    out.end()
  }

  const chat = (response: ServerResponse, body: unknown, record: (turn: number | undefined) => void) => {
    const request = decodeChat(body)
    if (request._tag === "None") {
      record(undefined)
      return json(response, 400, {
        error: { message: "not a chat completions request", type: "invalid_request_error" }
      })
    }
    const r = request.value
    const tools = (r.tools ?? []).map((t) => ({ name: t.function.name, schema: t.function.parameters }))
    const planned = plan(
      r.messages.filter((m) => m.role === "assistant").length,
      tools,
      r.messages.filter((m) => m.role === "system" || m.role === "developer")
    )
    record(planned.turn)
    const toolCalls = planned.calls.map((call) => ({
      id: nextId("call"),
      type: "function",
      function: { name: call.name, arguments: JSON.stringify(call.input) }
    }))
    const text = planned.texts.join("\n")
    const inputTokens = tokensOf([r.messages, r.tools])
    const outputTokens = tokensOf([text, toolCalls])
    count(inputTokens, outputTokens)
    const finish = toolCalls.length > 0 ? "tool_calls" : "stop"
    const usageBody = {
      prompt_tokens: inputTokens,
      completion_tokens: outputTokens,
      total_tokens: inputTokens + outputTokens
    }
    const id = nextId("chatcmpl")
    const created = Math.floor(Date.now() / 1000)
    if (r.stream !== true) {
      return json(response, 200, {
        id,
        object: "chat.completion",
        created,
        model: r.model,
        choices: [{
          index: 0,
          message: {
            role: "assistant",
            content: text === "" ? null : text,
            ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {})
          },
          finish_reason: finish
        }],
        usage: usageBody
      })
    }
    const out = sse(response)
    const chunk = (delta: unknown, finishReason: string | null, extra: Record<string, unknown> = {}) =>
      out.event(undefined, {
        id,
        object: "chat.completion.chunk",
        created,
        model: r.model,
        choices: [{ index: 0, delta, finish_reason: finishReason }],
        ...extra
      })
    chunk({ role: "assistant", content: "" }, null)
    if (text !== "") chunk({ content: text }, null)
    toolCalls.forEach((call, index) => chunk({ tool_calls: [{ index, ...call }] }, null))
    chunk({}, finish)
    // As OpenAI's: usage only when asked for, in one more chunk with no choices.
    if (r.stream_options?.include_usage) {
      out.event(undefined, {
        id,
        object: "chat.completion.chunk",
        created,
        model: r.model,
        choices: [],
        usage: usageBody
      })
    }
    out.event(undefined, "[DONE]")
    out.end()
  }

  const responses = (response: ServerResponse, body: unknown, record: (turn: number | undefined) => void) => {
    const request = decodeResponses(body)
    if (request._tag === "None") {
      record(undefined)
      return json(response, 400, { error: { message: "not a responses request", type: "invalid_request_error" } })
    }
    const r = request.value
    const input = typeof r.input === "string" ? [{ type: "message", role: "user", content: r.input }] : r.input
    // Model turns so far: runs of items the model produced (calls, assistant messages, reasoning).
    let modelTurns = 0
    let inModel = false
    for (const item of input) {
      const type = typeof item === "object" && item !== null ? (item as { type?: unknown }).type : undefined
      const role = typeof item === "object" && item !== null ? (item as { role?: unknown }).role : undefined
      const fromModel = type === "function_call" || type === "local_shell_call" || type === "custom_tool_call" ||
        type === "reasoning" || (type === "message" && role === "assistant")
      if (fromModel && !inModel) modelTurns++
      inModel = fromModel
    }
    const tools = (r.tools ?? []).flatMap((t) =>
      t.name !== undefined
        ? [{ name: t.name, schema: t.parameters }]
        : t.type === "local_shell"
        ? [{ name: "local_shell", schema: {} }]
        : []
    )
    const planned = plan(modelTurns, tools, [r.instructions, input])
    record(planned.turn)
    const output: Array<Record<string, unknown>> = [
      ...planned.calls.map((call) =>
        call.name === "local_shell"
          ? {
            type: "local_shell_call",
            id: nextId("lsh"),
            call_id: nextId("call"),
            status: "completed",
            action: { type: "exec", command: call.input["command"], env: {} }
          }
          : {
            type: "function_call",
            id: nextId("fc"),
            call_id: nextId("call"),
            name: call.name,
            arguments: JSON.stringify(call.input),
            status: "completed"
          }
      ),
      ...(planned.texts.length > 0
        ? [{
          type: "message",
          id: nextId("msg"),
          role: "assistant",
          status: "completed",
          content: [{ type: "output_text", text: planned.texts.join("\n"), annotations: [] }]
        }]
        : [])
    ]
    const inputTokens = tokensOf([r.instructions, input, r.tools])
    const outputTokens = tokensOf(output)
    count(inputTokens, outputTokens)
    const result = {
      id: nextId("resp"),
      object: "response",
      created_at: Math.floor(Date.now() / 1000),
      status: "completed",
      model: r.model,
      output,
      usage: {
        input_tokens: inputTokens,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens: outputTokens,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: inputTokens + outputTokens
      }
    }
    if (r.stream !== true) return json(response, 200, result)
    const out = sse(response)
    let sequence = 0
    const event = (type: string, data: Record<string, unknown>) =>
      out.event(type, { type, sequence_number: sequence++, ...data })
    event("response.created", { response: { ...result, status: "in_progress", output: [] } })
    output.forEach((item, output_index) => {
      event("response.output_item.added", { output_index, item })
      if (item["type"] === "message") {
        const text = planned.texts.join("\n")
        event("response.output_text.delta", { item_id: item["id"], output_index, content_index: 0, delta: text })
        event("response.output_text.done", { item_id: item["id"], output_index, content_index: 0, text })
      }
      event("response.output_item.done", { output_index, item })
    })
    event("response.completed", { response: result })
    out.end()
  }

  const gemini = (
    response: ServerResponse,
    path: string,
    query: URLSearchParams,
    body: unknown,
    record: (turn: number | undefined) => void
  ) => {
    const request = decodeGemini(body)
    const model = /models\/([^:/]+):/.exec(path)?.[1] ?? "gemini"
    if (path.endsWith(":countTokens")) {
      record(undefined)
      return json(response, 200, { totalTokens: tokensOf(body) })
    }
    if (request._tag === "None") {
      record(undefined)
      return json(response, 400, {
        error: { code: 400, message: "not a generateContent request", status: "INVALID_ARGUMENT" }
      })
    }
    const r = request.value
    const tools = (r.tools ?? []).flatMap((t) =>
      (t.functionDeclarations ?? []).map((f) => ({ name: f.name, schema: f.parametersJsonSchema ?? f.parameters }))
    )
    const planned = plan(r.contents.filter((c) => c.role === "model").length, tools, [r.systemInstruction, r.contents])
    record(planned.turn)
    const parts = [
      ...planned.texts.map((text) => ({ text })),
      ...planned.calls.map((call) => ({ functionCall: { name: call.name, args: call.input } }))
    ]
    const inputTokens = tokensOf([r.systemInstruction, r.contents, r.tools])
    const outputTokens = tokensOf(parts)
    count(inputTokens, outputTokens)
    const result = {
      candidates: [{ content: { role: "model", parts }, finishReason: "STOP", index: 0 }],
      usageMetadata: {
        promptTokenCount: inputTokens,
        candidatesTokenCount: outputTokens,
        totalTokenCount: inputTokens + outputTokens
      },
      modelVersion: model
    }
    if (!path.endsWith(":streamGenerateContent")) return json(response, 200, result)
    if (query.get("alt") === "sse") {
      const out = sse(response)
      out.event(undefined, result)
      return out.end()
    }
    return json(response, 200, [result])
  }

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
      if (api === "anthropic") return anthropic(response, body, record)
      if (api === "openai-chat") return chat(response, body, record)
      if (api === "openai-responses") return responses(response, body, record)
      if (api === "gemini") return gemini(response, path, parsed.searchParams, body, record)
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

/**
 * The OpenAI APIs of the scripted model server, for OpenAI-compatible CLIs: chat completions (`POST
 * /v1/chat/completions`, tool calls as `tool_calls`) and Responses (`POST /v1/responses`, `function_call` and
 * `local_shell_call` items), each as JSON or streamed as server-sent events.
 */
import { Schema } from "effect"
import type { ServerResponse } from "node:http"
import { json, type Player, type RecordTurn, sse, tokensOf } from "./Replies.ts"

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

const decodeChat = Schema.decodeUnknownOption(ChatRequest)
const decodeResponses = Schema.decodeUnknownOption(ResponsesRequest)

/** Answers a chat completions request with the next script turn. */
export const chatCompletions = (player: Player, response: ServerResponse, body: unknown, record: RecordTurn) => {
  const { count, nextId, plan } = player
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

/** Answers a Responses request with the next script turn (the model turns so far read from its `input`). */
export const responses = (player: Player, response: ServerResponse, body: unknown, record: RecordTurn) => {
  const { count, nextId, plan } = player
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

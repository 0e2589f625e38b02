/**
 * The Anthropic Messages API of the scripted model server (`POST /v1/messages`, JSON or streamed as server-sent
 * events, tool calls as `tool_use` blocks), for Claude Code.
 */
import { Schema } from "effect"
import type { ServerResponse } from "node:http"
import { json, type Player, type RecordTurn, sse, tokensOf } from "./Replies.ts"

const AnthropicRequest = Schema.Struct({
  model: Schema.String,
  messages: Schema.Array(Schema.Struct({ role: Schema.String, content: Schema.Unknown })),
  system: Schema.optional(Schema.Unknown),
  tools: Schema.optional(
    Schema.Array(Schema.Struct({ name: Schema.String, input_schema: Schema.optional(Schema.Unknown) }))
  ),
  stream: Schema.optional(Schema.Boolean)
})

const decodeAnthropic = Schema.decodeUnknownOption(AnthropicRequest)

/** Answers a Messages request with the next script turn. */
export const messages = (player: Player, response: ServerResponse, body: unknown, record: RecordTurn) => {
  const { count, nextId, plan } = player
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

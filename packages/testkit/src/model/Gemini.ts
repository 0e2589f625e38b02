/**
 * The Gemini API of the scripted model server (`POST /v1beta/models/<model>:generateContent`, `:streamGenerateContent`
 * as a JSON array or, with `alt=sse`, server-sent events; `:countTokens`), for Gemini CLI.
 */
import { Schema } from "effect"
import type { ServerResponse } from "node:http"
import { json, type Player, type RecordTurn, sse, tokensOf } from "./Replies.ts"

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

const decodeGemini = Schema.decodeUnknownOption(GeminiRequest)

/** Answers a Gemini request (`path` names the model and the method) with the next script turn. */
export const generateContent = (
  player: Player,
  response: ServerResponse,
  path: string,
  query: URLSearchParams,
  body: unknown,
  record: RecordTurn
) => {
  const { count, plan } = player
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

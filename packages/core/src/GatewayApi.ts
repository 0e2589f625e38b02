/**
 * The model gateway's part of Porter's HTTP API (`ModelGateway`): each provider's API under the task's gateway URL,
 * served raw (the provider's own request and answer bodies, streamed), with the task's gateway credential where the
 * CLI puts its key — `x-api-key`, `Authorization: Bearer`, `x-goog-api-key` or `?key=`:
 *
 *   POST /gateway/tasks/:taskId/anthropic/v1/messages                      (and …/v1/messages/count_tokens)
 *   POST /gateway/tasks/:taskId/openai/v1/responses                        (and …/v1/chat/completions)
 *   GET  /gateway/tasks/:taskId/openai/v1/models                           (and …/v1/models/:model)
 *   POST /gateway/tasks/:taskId/gemini/:version/models/:model:method       (generateContent, streamGenerateContent,
 *                                                                            countTokens)
 *
 * Every refusal is in the provider's own error format (`Providers.errorBody`), not Porter's `{ _tag, message }`; any
 * other path under `/gateway/` is a 404 in that format too (`GatewayApp.fallback`).
 */
import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "effect/http-api"

const Task = { taskId: Schema.String }

const raw = (description: string) => OpenApi.annotations({ description })

/** The model gateway's routes: each provider's API under `/gateway/tasks/:taskId/…`. */
export class Gateway extends HttpApiGroup.make("gateway").add(
  HttpApiEndpoint.post("anthropicMessages", "/gateway/tasks/:taskId/anthropic/v1/messages", {
    params: Task,
    payload: Schema.Unknown
  }).annotateMerge(raw("Anthropic's Messages API, streamed through with Porter's key; metered.")),
  HttpApiEndpoint.post("anthropicCountTokens", "/gateway/tasks/:taskId/anthropic/v1/messages/count_tokens", {
    params: Task,
    payload: Schema.Unknown
  }).annotateMerge(raw("Anthropic's token count, passed through (not metered).")),
  HttpApiEndpoint.post("openaiResponses", "/gateway/tasks/:taskId/openai/v1/responses", {
    params: Task,
    payload: Schema.Unknown
  }).annotateMerge(raw("OpenAI's Responses API, streamed through with Porter's key; metered.")),
  HttpApiEndpoint.post("openaiChatCompletions", "/gateway/tasks/:taskId/openai/v1/chat/completions", {
    params: Task,
    payload: Schema.Unknown
  }).annotateMerge(raw("OpenAI's Chat Completions, streamed through with Porter's key; metered.")),
  HttpApiEndpoint.get("openaiModels", "/gateway/tasks/:taskId/openai/v1/models", { params: Task })
    .annotateMerge(raw("OpenAI's model list, passed through.")),
  HttpApiEndpoint.post("gemini", "/gateway/tasks/:taskId/gemini/:version/models/:call", {
    params: { ...Task, version: Schema.String, call: Schema.String },
    payload: Schema.Unknown
  }).annotateMerge(raw(
    "Gemini's `{model}:generateContent`, `:streamGenerateContent` (metered) and `:countTokens`, with Porter's key."
  ))
).annotateMerge(OpenApi.annotations({
  description: "A task's model calls, with Porter's keys attached: the machine presents the task's gateway " +
    "credential where its CLI puts an API key (x-api-key, Authorization: Bearer, x-goog-api-key or ?key=)."
})) {}

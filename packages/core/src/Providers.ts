/**
 * The model APIs Porter's gateway passes through, one rule each (the gateway, the machine's environment and the
 * docs read them from here):
 *
 * - which paths exist (anything else is 404), which of them are model calls Porter meters;
 * - where the task's credential may be presented (where each CLI presents its key) and how the real key goes upstream;
 * - the headers passed on each way (hop-by-hop headers, credentials and cookies never);
 * - the provider's own error format, so a CLI shows Porter's refusal as it shows the provider's;
 * - the variables that point a CLI at the gateway (`clientEnvironment`).
 *
 *   anthropic  /gateway/tasks/:id/anthropic/v1/messages, …/v1/messages/count_tokens    → <upstream>/v1/…
 *   openai     /gateway/tasks/:id/openai/v1/responses, …/chat/completions, …/models     → <upstream>/…  (upstream has /v1)
 *   gemini     /gateway/tasks/:id/gemini/v1beta/models/{model}:generateContent, :streamGenerateContent, :countTokens
 */
import { Schema } from "effect"
import type { Provider } from "./ModelUsage.ts"
import { SecretName } from "./SecretStore.ts"

const name = Schema.decodeSync(SecretName)

/** A model provider the gateway serves: its name, the secrets that hold its key, its upstream. */
export interface ProviderSpec {
  readonly provider: Provider
  readonly displayName: string
  /** Secrets that hold a key for it, in the order they are preferred. */
  readonly keyNames: ReadonlyArray<SecretName>
  /** A stored secret that replaces the configured upstream URL for the chain that holds it. */
  readonly upstreamSecret: SecretName
  /** The provider's public API (what `PorterConfig.gateway` defaults to). */
  readonly defaultUpstream: string
  /** The deployment's variable that replaces it (`PorterConfig.gatewayConfig`). */
  readonly upstreamEnv: string
  /** The variables a CLI is pointed at the gateway with: base URL (given the provider's gateway URL) and key. */
  readonly baseUrlEnv: string
  readonly keyEnv: string
  /** What a client appends to the gateway URL before the API's own paths. */
  readonly clientSuffix: string
}

/** Anthropic (Messages API). */
export const anthropic: ProviderSpec = {
  provider: "anthropic",
  displayName: "Anthropic",
  keyNames: [name("ANTHROPIC_API_KEY"), name("CLAUDE_CODE_OAUTH_TOKEN")],
  upstreamSecret: name("ANTHROPIC_BASE_URL"),
  defaultUpstream: "https://api.anthropic.com",
  upstreamEnv: "PORTER_GATEWAY_ANTHROPIC_URL",
  baseUrlEnv: "ANTHROPIC_BASE_URL",
  keyEnv: "ANTHROPIC_API_KEY",
  clientSuffix: ""
}

/** OpenAI (Responses and Chat Completions). */
export const openai: ProviderSpec = {
  provider: "openai",
  displayName: "OpenAI",
  keyNames: [name("OPENAI_API_KEY"), name("CODEX_API_KEY")],
  upstreamSecret: name("OPENAI_BASE_URL"),
  defaultUpstream: "https://api.openai.com/v1",
  upstreamEnv: "PORTER_GATEWAY_OPENAI_URL",
  baseUrlEnv: "OPENAI_BASE_URL",
  keyEnv: "OPENAI_API_KEY",
  clientSuffix: "/v1"
}

/** Google's Gemini API. */
export const gemini: ProviderSpec = {
  provider: "gemini",
  displayName: "Gemini",
  keyNames: [name("GEMINI_API_KEY"), name("GOOGLE_API_KEY")],
  upstreamSecret: name("GOOGLE_GEMINI_BASE_URL"),
  defaultUpstream: "https://generativelanguage.googleapis.com",
  upstreamEnv: "PORTER_GATEWAY_GEMINI_URL",
  baseUrlEnv: "GOOGLE_GEMINI_BASE_URL",
  keyEnv: "GEMINI_API_KEY",
  clientSuffix: ""
}

/** Every provider the gateway serves. */
export const all: ReadonlyArray<ProviderSpec> = [anthropic, openai, gemini]

/** The spec of `provider`. */
export const specOf = (provider: Provider): ProviderSpec =>
  provider === "anthropic" ? anthropic : provider === "openai" ? openai : gemini

/** Every secret the gateway may read for a task: keys and upstream overrides. */
export const secretNames: ReadonlyArray<SecretName> = all.flatMap((spec) => [...spec.keyNames, spec.upstreamSecret])

/** A path the gateway serves, after `/gateway/tasks/:id/<provider>/`. */
export interface Route {
  /** The path to append to the upstream URL. */
  readonly upstreamPath: string
  /** A model call (metered, under budget); `false` for token counts and model lists (passed through). */
  readonly metered: boolean
  /** The model, when the path names it (Gemini). */
  readonly model?: string
}

const GEMINI =
  /^(v1|v1beta|v1alpha)\/models\/([A-Za-z0-9][A-Za-z0-9._-]{0,99}):(generateContent|streamGenerateContent|countTokens)$/
const GEMINI_MODELS = /^(v1|v1beta|v1alpha)\/models(\/[A-Za-z0-9][A-Za-z0-9._-]{0,99})?$/
const OPENAI_MODEL = /^v1\/models\/[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$/

/** The route for `method` and `rest` (the path after the provider's segment, no leading slash), if it is one. */
export const route = (provider: Provider, method: string, rest: string): Route | undefined => {
  switch (provider) {
    case "anthropic":
      if (method !== "POST") return undefined
      if (rest === "v1/messages") return { upstreamPath: "/v1/messages", metered: true }
      if (rest === "v1/messages/count_tokens") return { upstreamPath: "/v1/messages/count_tokens", metered: false }
      return undefined
    case "openai":
      if (method === "POST" && (rest === "v1/responses" || rest === "v1/chat/completions")) {
        return { upstreamPath: rest.slice(2), metered: true }
      }
      if (method === "GET" && (rest === "v1/models" || OPENAI_MODEL.test(rest))) {
        return { upstreamPath: rest.slice(2), metered: false }
      }
      return undefined
    case "gemini": {
      const call = method === "POST" ? GEMINI.exec(rest) : null
      if (call !== null) return { upstreamPath: `/${rest}`, metered: call[3] !== "countTokens", model: call[2]! }
      if (method === "GET" && GEMINI_MODELS.test(rest)) return { upstreamPath: `/${rest}`, metered: false }
      return undefined
    }
  }
}

/**
 * The credential a request presents, wherever its CLI puts a key: `x-api-key` (Anthropic), `Authorization: Bearer`
 * (OpenAI, Anthropic's auth token), `x-goog-api-key` or `?key=` (Gemini).
 */
export const presented = (
  headers: Readonly<Record<string, string | undefined>>,
  query: URLSearchParams
): string | undefined => {
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(headers["authorization"] ?? "")?.[1]
  return headers["x-api-key"]?.trim() || bearer || headers["x-goog-api-key"]?.trim() || query.get("key") || undefined
}

// Never passed on: hop-by-hop headers, anything about the client's own connection or credentials, and
// `accept-encoding` (the platform's fetch negotiates compression and hands Porter plain bytes to meter).
const droppedRequestHeaders = new Set([
  "host",
  "authorization",
  "x-api-key",
  "x-goog-api-key",
  "cookie",
  "content-length",
  "connection",
  "keep-alive",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
  "expect",
  "accept-encoding",
  "forwarded",
  "x-real-ip",
  "true-client-ip"
])

/** The client's headers to send upstream (without its credential), then the provider's key. */
export const upstreamHeaders = (
  provider: Provider,
  headers: Readonly<Record<string, string | undefined>>,
  key: { readonly name: string; readonly value: string }
): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [header, value] of Object.entries(headers)) {
    if (value === undefined || droppedRequestHeaders.has(header)) continue
    if (header.startsWith("proxy-") || header.startsWith("x-forwarded-") || header.startsWith("cf-")) continue
    out[header] = value
  }
  switch (provider) {
    case "anthropic":
      if (key.name === "CLAUDE_CODE_OAUTH_TOKEN") {
        out["authorization"] = `Bearer ${key.value}`
        out["anthropic-beta"] = [out["anthropic-beta"], "oauth-2025-04-20"].filter(Boolean).join(",")
      } else {
        out["x-api-key"] = key.value
      }
      break
    case "openai":
      out["authorization"] = `Bearer ${key.value}`
      break
    case "gemini":
      out["x-goog-api-key"] = key.value
      break
  }
  return out
}

const keptResponseHeaders = new Set([
  "content-type",
  "cache-control",
  "retry-after",
  "retry-after-ms",
  "x-should-retry",
  "request-id",
  "x-request-id"
])

/** The upstream answer's headers passed back: content type, retry advice, request ids, rate-limit figures. */
export const responseHeaders = (headers: Readonly<Record<string, string | undefined>>): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [header, value] of Object.entries(headers)) {
    if (value === undefined) continue
    if (
      keptResponseHeaders.has(header) || header.startsWith("anthropic-") || header.startsWith("openai-") ||
      header.startsWith("x-ratelimit-")
    ) out[header] = value
  }
  return out
}

/** Why Porter itself refuses a call (each becomes the provider's own error shape). */
export const Refusal = Schema.Literals([
  "bad_credential",
  "task_ended",
  "past_deadline",
  "budget_reached",
  "no_key",
  "not_found",
  "too_large",
  "bad_request",
  "unreachable",
  "unavailable"
])
export type Refusal = typeof Refusal.Type

/** The HTTP status a refusal is answered with. */
export const statusOf = (refusal: Refusal): number => {
  switch (refusal) {
    case "bad_credential":
      return 401
    case "task_ended":
    case "past_deadline":
    case "budget_reached":
    case "no_key":
      return 403
    case "not_found":
      return 404
    case "too_large":
      return 413
    case "bad_request":
      return 400
    case "unreachable":
      return 502
    case "unavailable":
      return 503
  }
}

const anthropicType = (status: number): string =>
  status === 401
    ? "authentication_error"
    : status === 403
    ? "permission_error"
    : status === 404
    ? "not_found_error"
    : status === 413
    ? "request_too_large"
    : status === 400
    ? "invalid_request_error"
    : "api_error"

const openaiType = (status: number): string =>
  status === 401 || status === 400 || status === 404 || status === 413
    ? "invalid_request_error"
    : status === 403
    ? "permission_error"
    : "server_error"

const geminiStatus = (status: number): string =>
  status === 401
    ? "UNAUTHENTICATED"
    : status === 403
    ? "PERMISSION_DENIED"
    : status === 404
    ? "NOT_FOUND"
    : status === 400 || status === 413
    ? "INVALID_ARGUMENT"
    : status === 503
    ? "UNAVAILABLE"
    : "INTERNAL"

/** A refusal's body in `provider`'s error format. */
export const errorBody = (provider: Provider, refusal: Refusal, message: string): unknown => {
  const status = statusOf(refusal)
  const text = `Porter: ${message}`
  switch (provider) {
    case "anthropic":
      return { type: "error", error: { type: anthropicType(status), message: text } }
    case "openai":
      return {
        error: {
          message: text,
          type: openaiType(status),
          param: null,
          code: refusal === "bad_credential" ? "invalid_api_key" : refusal
        }
      }
    case "gemini":
      return { error: { code: status, message: text, status: geminiStatus(status) } }
  }
}

/**
 * The environment that points every supported CLI at the gateway, given the task's gateway URL
 * (`<publicUrl>/gateway/tasks/<id>`) and its gateway credential, which goes where each CLI reads its key.
 */
export const clientEnvironment = (gatewayUrl: string, credential: string): Record<string, string> => {
  const base = gatewayUrl.replace(/\/+$/, "")
  const env: Record<string, string> = {}
  for (const spec of all) {
    env[spec.baseUrlEnv] = `${base}/${spec.provider}${spec.clientSuffix}`
    env[spec.keyEnv] = credential
  }
  return env
}

/** The gateway URL of a task. */
export const gatewayUrl = (publicUrl: string, taskId: string): string =>
  `${publicUrl.replace(/\/+$/, "")}/gateway/tasks/${taskId}`

/**
 * Metering: the token counts of one model answer, read from the answer's own bytes as they stream past, without
 * parsing the stream. Every provider puts its final figures at the end (Anthropic's `message_delta`, OpenAI's
 * `response.completed` or last chat chunk, Gemini's last `usageMetadata`), and Anthropic its input figures and every
 * provider the model's id at the start. So a meter keeps only the first 16 KiB and the last 32 KiB of the answer
 * (references to the chunks, no copy, no decoding while it streams) and reads them once, when the answer ends: the
 * cost per chunk is an array push, the cost per answer two decodes of at most 48 KiB and one `JSON.parse` of each
 * usage object.
 *
 * An answer without figures (cut short, or a Chat Completions stream whose client did not ask for usage and whose
 * request Porter could not amend) is estimated from its size (4 bytes a token, request for input, answer for output:
 * an over-count, so a budget stops early rather than late) and marked `estimated`.
 *
 * Cannot: see usage a provider puts anywhere but the start or the end; tell a cut-short Gemini stream's partial
 * figures from final ones (the latest are taken).
 */
import type { Provider } from "./ModelUsage.ts"
import type { Tokens } from "./Pricing.ts"

const HEAD_BYTES = 16 * 1024
const TAIL_BYTES = 32 * 1024

/** What a meter found once the answer ended. */
export interface Metered extends Tokens {
  readonly model: string
  readonly estimated: boolean
  /** Bytes of the answer. */
  readonly bytes: number
}

/** Reads a provider's answer as it streams by, then says what the call used. */
export interface Meter {
  /** One chunk of the answer, as it passes. */
  readonly push: (chunk: Uint8Array) => void
  /** The figures, once the answer ended or was cut short. */
  readonly finish: () => Metered
}

/** What the meter knows before the answer: the request's size and model. */
export interface MeterOptions {
  /** Bytes of the request (for an estimate). */
  readonly requestBytes: number
  /** The model, when the request's path names it (Gemini). */
  readonly model?: string | undefined
}

const decoder = new TextDecoder()

const concat = (chunks: ReadonlyArray<Uint8Array>, from: number, length: number): Uint8Array => {
  const out = new Uint8Array(length)
  let offset = 0
  let skip = from
  for (const chunk of chunks) {
    if (skip >= chunk.byteLength) {
      skip -= chunk.byteLength
      continue
    }
    const part = chunk.subarray(skip, Math.min(chunk.byteLength, skip + length - offset))
    out.set(part, offset)
    offset += part.byteLength
    skip = 0
    if (offset >= length) break
  }
  return out
}

/** The JSON object that starts at `start` in `text` (balanced braces, strings skipped), parsed; else undefined. */
export const objectAt = (text: string, start: number): Record<string, unknown> | undefined => {
  let depth = 0
  let inString = false
  for (let i = start; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 92) i++ // backslash: skip the escaped character
      else if (c === 34) inString = false
      continue
    }
    if (c === 34) inString = true
    else if (c === 123) depth++
    else if (c === 125 && --depth === 0) {
      try {
        const value: unknown = JSON.parse(text.slice(start, i + 1))
        return typeof value === "object" && value !== null ? value as Record<string, unknown> : undefined
      } catch {
        return undefined
      }
    }
  }
  return undefined
}

const isSpace = (c: number) => c === 32 || c === 10 || c === 13 || c === 9

/** The index of the `{` of `"key": {` at or after `at`'s key, or -1 (the value is not an object). */
const objectStart = (text: string, keyAt: number, key: string): number => {
  let i = keyAt + key.length + 2
  while (i < text.length && isSpace(text.charCodeAt(i))) i++
  if (text.charCodeAt(i) !== 58) return -1 // ':'
  i++
  while (i < text.length && isSpace(text.charCodeAt(i))) i++
  return text.charCodeAt(i) === 123 ? i : -1
}

/** The object value of the first (`last`: the last) `"key": {…}` in `text` at or after `after`. */
export const findObject = (
  text: string,
  key: string,
  options: { readonly last?: boolean; readonly after?: number } = {}
): Record<string, unknown> | undefined => {
  const needle = `"${key}"`
  let at = options.last === true ? text.lastIndexOf(needle) : text.indexOf(needle, options.after ?? 0)
  while (at >= 0 && at >= (options.after ?? 0)) {
    const start = objectStart(text, at, key)
    if (start >= 0) {
      const value = objectAt(text, start)
      if (value !== undefined) return value
    }
    at = options.last === true ? text.lastIndexOf(needle, at - 1) : text.indexOf(needle, at + 1)
  }
  return undefined
}

const MODEL = /"(?:model|modelVersion)"\s*:\s*"([^"\\]{1,200})"/

const count = (value: unknown): number =>
  typeof value === "number" && Number.isFinite(value) && value >= 0 ? Math.min(Math.floor(value), 1e12) : 0

const has = (value: Record<string, unknown> | undefined, key: string): boolean =>
  value !== undefined && typeof value[key] === "number"

const nested = (value: Record<string, unknown> | undefined, key: string, inner: string): number => {
  const object = value?.[key]
  return typeof object === "object" && object !== null ? count((object as Record<string, unknown>)[inner]) : 0
}

type Figures = Tokens | undefined

const anthropicFigures = (head: string, tail: string): Figures => {
  const start = findObject(head, "usage")
  // The final figures follow the last `message_delta` of a stream; a JSON answer's only usage is final.
  const delta = tail.lastIndexOf("message_delta")
  const final = delta >= 0
    ? findObject(tail, "usage", { after: delta })
    : head.includes("message_start")
    ? undefined
    : findObject(tail, "usage", { last: true })
  if (final === undefined || !has(final, "output_tokens")) return undefined
  // Cumulative: the delta's counts win where it has them (newer API versions repeat the input figures there).
  const pick = (key: string) => (has(final, key) ? count(final[key]) : count(start?.[key]))
  return {
    inputTokens: pick("input_tokens"),
    outputTokens: count(final["output_tokens"]),
    cacheReadTokens: pick("cache_read_input_tokens"),
    cacheWriteTokens: pick("cache_creation_input_tokens")
  }
}

const openaiFigures = (tail: string): Figures => {
  const usage = findObject(tail, "usage", { last: true })
  if (usage === undefined) return undefined
  // Responses API: input_tokens (cached included) / output_tokens; Chat Completions: prompt / completion tokens.
  if (has(usage, "input_tokens") || has(usage, "output_tokens")) {
    const cached = nested(usage, "input_tokens_details", "cached_tokens")
    return {
      inputTokens: Math.max(0, count(usage["input_tokens"]) - cached),
      outputTokens: count(usage["output_tokens"]),
      cacheReadTokens: cached,
      cacheWriteTokens: 0
    }
  }
  if (!has(usage, "prompt_tokens") && !has(usage, "completion_tokens")) return undefined
  const cached = nested(usage, "prompt_tokens_details", "cached_tokens")
  return {
    inputTokens: Math.max(0, count(usage["prompt_tokens"]) - cached),
    outputTokens: count(usage["completion_tokens"]),
    cacheReadTokens: cached,
    cacheWriteTokens: 0
  }
}

const geminiFigures = (tail: string): Figures => {
  const usage = findObject(tail, "usageMetadata", { last: true })
  if (usage === undefined || !has(usage, "promptTokenCount")) return undefined
  const cached = count(usage["cachedContentTokenCount"])
  return {
    inputTokens: Math.max(0, count(usage["promptTokenCount"]) + count(usage["toolUsePromptTokenCount"]) - cached),
    // Thinking tokens are billed as output.
    outputTokens: count(usage["candidatesTokenCount"]) + count(usage["thoughtsTokenCount"]),
    cacheReadTokens: cached,
    cacheWriteTokens: 0
  }
}

/** A meter for one answer of `provider`. */
export const make = (provider: Provider, options: MeterOptions): Meter => {
  const head: Array<Uint8Array> = []
  let headBytes = 0
  const tail: Array<Uint8Array> = []
  let tailBytes = 0
  let bytes = 0
  return {
    push: (chunk) => {
      bytes += chunk.byteLength
      if (headBytes < HEAD_BYTES) {
        head.push(chunk)
        headBytes += chunk.byteLength
      }
      tail.push(chunk)
      tailBytes += chunk.byteLength
      while (tail.length > 1 && tailBytes - tail[0]!.byteLength >= TAIL_BYTES) tailBytes -= tail.shift()!.byteLength
    },
    finish: () => {
      const headText = decoder.decode(concat(head, 0, Math.min(headBytes, HEAD_BYTES)))
      const tailText = decoder.decode(
        concat(tail, Math.max(0, tailBytes - TAIL_BYTES), Math.min(tailBytes, TAIL_BYTES))
      )
      const figures = provider === "anthropic"
        ? anthropicFigures(headText, tailText)
        : provider === "openai"
        ? openaiFigures(tailText)
        : geminiFigures(tailText)
      const model = options.model ?? MODEL.exec(headText)?.[1] ?? MODEL.exec(tailText)?.[1] ?? "unknown"
      if (figures !== undefined) return { ...figures, model, estimated: false, bytes }
      const started = provider === "anthropic" ? findObject(headText, "usage") : undefined
      return {
        inputTokens: started !== undefined ? count(started["input_tokens"]) : Math.ceil(options.requestBytes / 4),
        outputTokens: Math.ceil(bytes / 4),
        cacheReadTokens: count(started?.["cache_read_input_tokens"]),
        cacheWriteTokens: count(started?.["cache_creation_input_tokens"]),
        model,
        estimated: true,
        bytes
      }
    }
  }
}

/**
 * GatewayBodies: what the model gateway does with bodies, in both directions — which request bodies it reads first
 * (the one it changes: a streamed Chat Completions request gets `stream_options.include_usage`) and which a host may
 * pipe upstream as they arrive; and the answer passed to the client chunk by chunk with the meter reading beside it,
 * or an upstream error's body read up to a limit. `ModelGateway` re-exports each but `readAtMost`.
 */
import { Effect, Stream } from "effect"
import type { Provider } from "./ModelUsage.ts"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** Whether Porter reads a call's body before sending it on: it changes it (a Chat Completions request, `withUsageRequested`). */
export const readsBody = (provider: Provider, rest: string): boolean =>
  provider === "openai" && rest === "v1/chat/completions"

/**
 * What a host offers as `pipeableBytes`: a POST body's declared length (`Content-Length`), when it is within `limit`
 * and Porter leaves the body as it is; otherwise nothing (the body is read first).
 */
export const pipeableBytesOf = (
  call: { readonly method: string; readonly provider: Provider; readonly rest: string },
  contentLength: string | null | undefined,
  limit: number
): number | undefined => {
  if (call.method !== "POST" || contentLength == null || readsBody(call.provider, call.rest)) return undefined
  const declared = Number(contentLength)
  return Number.isSafeInteger(declared) && declared >= 0 && declared <= limit ? declared : undefined
}

const STREAM_TRUE = /"stream"\s*:\s*true/

/** A streamed Chat Completions body that does not ask for usage, asking for it. */
export const withUsageRequested = (body: Uint8Array): Uint8Array => {
  const text = decoder.decode(body)
  if (!STREAM_TRUE.test(text) || text.includes("\"include_usage\"") || text.includes("\"stream_options\"")) return body
  const open = text.indexOf("{")
  if (open < 0) return body
  return encoder.encode(`${text.slice(0, open + 1)}"stream_options":{"include_usage":true},${text.slice(open + 1)}`)
}

/**
 * `source` with `onChunk` called on each chunk as it passes and `onEnd` once when it ends, fails or is cancelled: a
 * pull stream, so nothing is read ahead of the client.
 */
export const metered = (
  source: ReadableStream<Uint8Array>,
  onChunk: (chunk: Uint8Array) => void,
  onEnd: () => void
): ReadableStream<Uint8Array> => {
  const reader = source.getReader()
  let ended = false
  const end = () => {
    if (ended) return
    ended = true
    onEnd()
  }
  return new ReadableStream<Uint8Array>({
    pull: (controller) =>
      reader.read().then(
        ({ done, value }) => {
          if (done) {
            // The client's answer first; the meter's reading after (the same turn: before any next call).
            controller.close()
            end()
            return
          }
          onChunk(value)
          controller.enqueue(value)
        },
        (error: unknown) => {
          controller.error(error)
          end()
        }
      ),
    cancel: (reason) => {
      end()
      return reader.cancel(reason)
    }
  }, { highWaterMark: 0 })
}

/** The first `limit` bytes of `chunks`, as one array. */
export const joinedAtMost = (chunks: ReadonlyArray<Uint8Array>, limit: number): Uint8Array => {
  const out = new Uint8Array(Math.min(limit, chunks.reduce((n, c) => n + c.byteLength, 0)))
  let offset = 0
  for (const chunk of chunks) {
    if (offset >= out.byteLength) break
    const part = chunk.subarray(0, out.byteLength - offset)
    out.set(part, offset)
    offset += part.byteLength
  }
  return out
}

/** At most `limit` bytes of `stream` (an upstream error's body); nothing when it cannot be read. */
export const readAtMost = (stream: Stream.Stream<Uint8Array, unknown>, limit: number) =>
  Effect.suspend(() => {
    let size = 0
    return stream.pipe(
      Stream.takeWhile((chunk) => {
        const more = size < limit
        size += chunk.byteLength
        return more
      }),
      Stream.runCollect,
      Effect.map((chunks) => joinedAtMost(chunks, limit)),
      Effect.orElseSucceed(() => new Uint8Array(0))
    )
  })

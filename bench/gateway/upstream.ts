/**
 * The model API the gateway benchmark calls, directly and through Porter: Anthropic's streamed Messages, with the
 * answer's shape given by the model id, `bench-<chunks>-<chunkBytes>-<chunkMs>[-<firstTokenMs>]`: after
 * `firstTokenMs` (a model's time to its first token; default none), `message_start`, then `chunks` text deltas of
 * `chunkBytes` each, `chunkMs` apart, then `message_delta` with usage. No parsing beyond that: the server costs the same whichever way it is called.
 */
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"

export interface Upstream {
  readonly url: string
  readonly close: () => Promise<void>
}

const event = (name: string, data: unknown) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`

export const start = (): Promise<Upstream> =>
  new Promise((resolve) => {
    const server = createServer((request, response) => {
      const chunks: Array<Buffer> = []
      request.on("data", (chunk: Buffer) => chunks.push(chunk))
      request.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8")
        const model = /"model"\s*:\s*"([^"]+)"/.exec(text)?.[1] ?? "bench-1-16-0"
        const [, count = "1", size = "16", pause = "0", firstToken = "0"] =
          /^bench-(\d+)-(\d+)-(\d+)(?:-(\d+))?$/.exec(model) ?? []
        const n = Number(count)
        const delta = event("content_block_delta", {
          type: "content_block_delta",
          index: 0,
          delta: { type: "text_delta", text: "x".repeat(Number(size)) }
        })
        let sent = 0
        const next = () => {
          if (sent < n) {
            sent++
            response.write(delta)
            if (Number(pause) > 0) setTimeout(next, Number(pause))
            else next()
            return
          }
          response.end(
            event("message_delta", { type: "message_delta", usage: { output_tokens: n } }) +
              event("message_stop", { type: "message_stop" })
          )
        }
        const begin = () => {
          response.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" })
          response.write(event("message_start", {
            type: "message_start",
            message: { id: "msg_bench", model, usage: { input_tokens: 100, output_tokens: 1 } }
          }))
          next()
        }
        // A model's time to its first token, when the model id asks for one.
        if (Number(firstToken) > 0) setTimeout(begin, Number(firstToken))
        else begin()
      })
    })
    server.keepAliveTimeout = 60_000
    server.listen(0, "127.0.0.1", () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        close: () =>
          new Promise((done) => {
            server.closeAllConnections()
            server.close(() => done())
          })
      }))
  })

/**
 * A fault-injecting HTTP proxy on loopback, for the reliability suite: it forwards every request to a target (the
 * GitHub emulator, the Worker) and can instead answer with an error status, drop the request, or forward it and
 * drop the answer — for the requests a rule matches, a given number of times. It also keeps the text bodies that
 * crossed it (JSON and text requests and answers; git's binary packs are streamed, not kept), so a test can scan
 * what left the Worker or a machine.
 *
 * The GitHub emulator has no fault injection of its own (the local machines server has: `server.faults`), so
 * GitHub's 5xx answers are made here. Cannot: proxy HTTPS or WebSockets, or fault a request in the middle of its
 * body (a fault applies before anything is forwarded, or after the whole answer came back).
 */
import { Effect, Scope } from "effect"
import { Agent, createServer, type IncomingMessage, request as httpRequest, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"

export type Action =
  /** Answer `status` at once; nothing is forwarded. */
  | { readonly _tag: "Status"; readonly status: number; readonly body?: string }
  /** Close the client's connection without forwarding anything: the request is lost. */
  | { readonly _tag: "DropRequest" }
  /** Forward the request, then close the client's connection instead of answering: the answer is lost. */
  | { readonly _tag: "DropAnswer" }

export interface Rule {
  readonly name: string
  readonly method?: string | undefined
  readonly path: RegExp
  readonly action: Action
  /** How many matching requests it applies to (default 1; `Infinity` for all of them). */
  readonly count?: number | undefined
  /** Only every `every`-th matching request gets the fault (default 1: each), e.g. 2 for one in two. */
  readonly every?: number | undefined
}

export interface Exchange {
  /** When the request arrived (epoch ms). */
  readonly started: number
  /** When it was answered (or dropped). */
  readonly at: number
  readonly method: string
  readonly path: string
  /** The answer's status; 0 when the connection was dropped. */
  readonly status: number
  /** The target's status when the request was forwarded (also when its answer was then dropped). */
  readonly upstreamStatus?: number | undefined
  /** The rule that faulted this request, if any. */
  readonly fault?: string | undefined
  readonly requestBody?: string | undefined
  readonly responseBody?: string | undefined
  readonly requestHeaders: Readonly<Record<string, string>>
}

export interface FaultProxy {
  /** `http://127.0.0.1:<port>`: give this URL instead of the target's. */
  readonly url: string
  /** Where requests go; may be set after the proxy started (the target may need the proxy's URL first). */
  readonly setTarget: (url: string) => void
  readonly add: (rule: Rule) => void
  readonly clear: () => void
  /** How many times each rule faulted a request so far. */
  readonly injected: () => ReadonlyMap<string, number>
  /** Every request that crossed the proxy, in order. */
  readonly exchanges: () => ReadonlyArray<Exchange>
  readonly close: () => Promise<void>
}

interface Active {
  readonly rule: Rule
  remaining: number
  seen: number
}

const TEXT = /json|text|x-www-form-urlencoded/
const KEEP_BYTES = 1024 * 1024

const headersOf = (message: IncomingMessage): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(message.headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(", ") : value
  }
  return out
}

/** Starts the proxy on a free loopback port; resolves once it listens. */
export const startPromise = (options: { readonly target?: string } = {}): Promise<FaultProxy> =>
  new Promise((resolve) => {
    let target = options.target
    const rules: Array<Active> = []
    const injected = new Map<string, number>()
    const exchanges: Array<Exchange> = []
    const agent = new Agent({ keepAlive: true, maxSockets: 64 })

    const pick = (method: string, path: string): Rule | undefined => {
      for (const active of rules) {
        const { rule } = active
        if (active.remaining <= 0) continue
        if (rule.method !== undefined && rule.method !== method) continue
        if (!rule.path.test(path)) continue
        active.seen++
        if (active.seen % (rule.every ?? 1) !== 0) continue
        active.remaining--
        injected.set(rule.name, (injected.get(rule.name) ?? 0) + 1)
        return rule
      }
      return undefined
    }

    const handle = (incoming: IncomingMessage, outgoing: ServerResponse) => {
      const method = incoming.method ?? "GET"
      const path = incoming.url ?? "/"
      const started = Date.now()
      const requestHeaders = headersOf(incoming)
      const keepRequest = TEXT.test(requestHeaders["content-type"] ?? "")
      const chunks: Array<Buffer> = []
      let size = 0
      incoming.on("data", (chunk: Buffer) => {
        if (keepRequest && size < KEEP_BYTES) chunks.push(chunk)
        size += chunk.length
      })
      const rule = pick(method, path)
      const record = (status: number, responseBody?: string, upstreamStatus?: number) =>
        exchanges.push({
          started,
          at: Date.now(),
          method,
          path,
          status,
          ...(upstreamStatus !== undefined ? { upstreamStatus } : {}),
          ...(rule !== undefined ? { fault: rule.name } : {}),
          ...(keepRequest ? { requestBody: Buffer.concat(chunks).toString("utf8") } : {}),
          ...(responseBody !== undefined ? { responseBody } : {}),
          requestHeaders
        })

      if (rule?.action._tag === "Status") {
        const { body, status } = rule.action
        incoming.resume()
        incoming.on("end", () => {
          const text = body ?? JSON.stringify({ message: `injected fault: ${rule.name}` })
          outgoing.writeHead(status, { "content-type": "application/json" })
          outgoing.end(text)
          record(status, text)
        })
        return
      }
      if (rule?.action._tag === "DropRequest" || target === undefined) {
        incoming.resume()
        incoming.on("end", () => {
          record(0)
          incoming.socket.destroy()
        })
        return
      }
      const dropAnswer = rule?.action._tag === "DropAnswer"
      const upstream = new URL(path, target)
      const forwarded = httpRequest(upstream, {
        method,
        agent,
        headers: { ...incoming.headers, host: upstream.host }
      }, (answer) => {
        const keepAnswer = TEXT.test(String(answer.headers["content-type"] ?? ""))
        const answerChunks: Array<Buffer> = []
        if (!dropAnswer) outgoing.writeHead(answer.statusCode ?? 502, answer.headers)
        answer.on("data", (chunk: Buffer) => {
          if (keepAnswer) answerChunks.push(chunk)
          if (!dropAnswer) outgoing.write(chunk)
        })
        answer.on("end", () => {
          const text = keepAnswer ? Buffer.concat(answerChunks).toString("utf8") : undefined
          if (dropAnswer) {
            record(0, text, answer.statusCode)
            incoming.socket.destroy()
            return
          }
          outgoing.end()
          record(answer.statusCode ?? 502, text, answer.statusCode)
        })
      })
      forwarded.on("error", (error) => {
        record(502)
        if (!outgoing.headersSent) outgoing.writeHead(502, { "content-type": "application/json" })
        outgoing.end(JSON.stringify({ message: `proxy: ${error.message}` }))
      })
      incoming.pipe(forwarded)
    }

    const server = createServer(handle)
    server.keepAliveTimeout = 30_000
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      resolve({
        url: `http://127.0.0.1:${port}`,
        setTarget: (url) => void (target = url),
        add: (rule) => void rules.push({ rule, remaining: rule.count ?? 1, seen: 0 }),
        clear: () => void rules.splice(0),
        injected: () => new Map(injected),
        exchanges: () => [...exchanges],
        close: () =>
          new Promise<void>((done) => {
            agent.destroy()
            server.closeAllConnections()
            server.close(() => done())
          })
      })
    })
  })

/** The proxy for the scope's lifetime. */
export const start = (options: { readonly target?: string } = {}): Effect.Effect<FaultProxy, never, Scope.Scope> =>
  Effect.acquireRelease(Effect.promise(() => startPromise(options)), (proxy) => Effect.promise(() => proxy.close()))

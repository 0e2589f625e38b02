/**
 * Bots as processes of their own, for the tests that kill one: start a bot program with an environment, wait until it
 * answers, kill it (SIGKILL: nothing of it runs its shutdown), start it again. And a round-robin proxy in front of
 * several bots — one webhook URL and one callback URL for all, like a load balancer — that skips a bot that is gone.
 */
import { Effect, Scope } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { createServer, request, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { fileURLToPath } from "node:url"

export interface BotProcess {
  readonly url: string
  readonly pid: number
  /** Everything it wrote (stdout and stderr), for a failing test's message. */
  readonly output: () => string
  /** SIGKILL, and wait until it is gone. */
  readonly kill: () => Promise<void>
  readonly exited: () => boolean
}

/** `main.ts`, the example's program. */
export const MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url))
/** `fixtures/replica.ts`: the same bot with the watchdog's timings shortened. */
export const REPLICA = fileURLToPath(new URL("./fixtures/replica.ts", import.meta.url))
/** `fixtures/fakeRunner.ts`: a machine that reports and ends, without an agent. */
export const FAKE_RUNNER = fileURLToPath(new URL("./fixtures/fakeRunner.ts", import.meta.url))

const waitForPage = async (url: string, child: ChildProcess, output: () => string) => {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`the bot exited (${child.exitCode ?? child.signalCode}):\n${output()}`)
    }
    // A request that reaches the server before its routes are installed waits: give up on it and ask again.
    const ok = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1_000) }).then((r) => r.ok, () => false)
    if (ok) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`the bot did not answer on ${url} in 30 s:\n${output()}`)
}

/** Starts `program` with `env` (on top of this process's `PATH` and `HOME`) listening on `port`; stopped with the scope. */
export const startBot = (program: string, port: number, env: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.promise(async (): Promise<BotProcess> => {
      const child = spawn(
        process.execPath,
        ["--conditions=@porter/source", "--disable-warning=ExperimentalWarning", program],
        {
          env: { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "/tmp", PORT: String(port), ...env },
          stdio: ["ignore", "pipe", "pipe"]
        }
      )
      let output = ""
      const keep = (chunk: Buffer) => (output = (output + chunk.toString("utf8")).slice(-200_000))
      child.stdout?.on("data", keep)
      child.stderr?.on("data", keep)
      const url = `http://127.0.0.1:${port}`
      await waitForPage(url, child, () => output)
      const exited = () => child.exitCode !== null || child.signalCode !== null
      return {
        url,
        pid: child.pid!,
        output: () => output,
        exited,
        kill: () =>
          new Promise<void>((resolve) => {
            if (exited()) return resolve()
            child.once("exit", () => resolve())
            child.kill("SIGKILL")
          })
      }
    }),
    (bot) => Effect.promise(() => bot.kill())
  )

/** A free TCP port on loopback. */
export const freePort = Effect.promise(() =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })
)

export interface Proxy {
  readonly url: string
  /** Which backend (index) answered each webhook delivery, and how: `X-GitHub-Delivery` → answers. */
  readonly webhooks: Map<string, Array<{ readonly backend: number; readonly status: number }>>
  /** Requests each backend answered. */
  readonly served: Array<number>
}

/**
 * Round-robin over `backends` (URLs): each request goes to the next one; one that refuses the connection is skipped
 * (the next takes the request), as a load balancer's health check would. A backend that fails mid-request gets 502.
 * With one backend and `delayMs`, a slow link to it.
 */
export const startProxy = (
  backends: ReadonlyArray<string>,
  options: {
    /** Hold each request this long before forwarding it (a slow network). */
    readonly delayMs?: number | undefined
  } = {}
): Effect.Effect<Proxy, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() =>
      new Promise<{ readonly proxy: Proxy; readonly server: Server }>((resolve) => {
        let next = 0
        const webhooks = new Map<string, Array<{ backend: number; status: number }>>()
        const served = backends.map(() => 0)
        const forward = (
          index: number,
          method: string,
          path: string,
          headers: Record<string, string | Array<string> | undefined>,
          body: Buffer
        ) =>
          new Promise<{ status: number; headers: Record<string, string | Array<string> | undefined>; body: Buffer }>(
            (done, fail) => {
              const target = new URL(path, backends[index])
              const req = request(target, { method, headers: { ...headers, host: target.host } }, (res) => {
                const chunks: Array<Buffer> = []
                res.on("data", (chunk: Buffer) => chunks.push(chunk))
                res.on(
                  "end",
                  () => done({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) })
                )
                res.on("error", fail)
              })
              req.on("error", fail)
              req.end(body)
            }
          )
        const server = createServer((req, res) => {
          const chunks: Array<Buffer> = []
          req.on("data", (chunk: Buffer) => chunks.push(chunk))
          req.on("end", async () => {
            const body = Buffer.concat(chunks)
            if (options.delayMs !== undefined) await new Promise((resolve) => setTimeout(resolve, options.delayMs))
            for (let tried = 0; tried < backends.length; tried++) {
              const index = next++ % backends.length
              try {
                const answer = await forward(index, req.method ?? "GET", req.url ?? "/", req.headers, body)
                served[index]!++
                const guid = req.headers["x-github-delivery"]
                if (typeof guid === "string" && req.url === "/webhooks/github") {
                  webhooks.set(guid, [...(webhooks.get(guid) ?? []), { backend: index, status: answer.status }])
                }
                res.writeHead(answer.status, answer.headers)
                res.end(answer.body)
                return
              } catch (error) {
                // Refused: the backend is gone; the next one takes the request. Anything else: the request may have
                // been taken, so it is not sent again here (the caller retries, as GitHub and the runner do).
                if ((error as NodeJS.ErrnoException).code === "ECONNREFUSED") continue
                res.writeHead(502).end()
                return
              }
            }
            res.writeHead(503).end()
          })
        })
        server.keepAliveTimeout = 1_000
        server.listen(0, "127.0.0.1", () => {
          const { port } = server.address() as AddressInfo
          resolve({ proxy: { url: `http://127.0.0.1:${port}`, webhooks, served }, server })
        })
      })
    ),
    ({ server }) =>
      Effect.promise(() =>
        new Promise<void>((resolve) => {
          server.closeAllConnections()
          server.close(() => resolve())
        })
      )
  ).pipe(Effect.map(({ proxy }) => proxy))

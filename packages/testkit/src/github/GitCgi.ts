/**
 * `git http-backend` run as a CGI program for one smart-HTTP request: the request body streams into the
 * program, its CGI headers (`Status`, `Content-Type`, …) become the answer's status and headers, and its
 * output streams back as the answer's body. The body ends only after `after` has run once the program
 * exited, so what a push changed is recorded before git returns.
 *
 * Node only (`node:child_process`).
 */
import * as NodeStream from "@effect/platform-node/NodeStream"
import { Deferred, Effect, Stream } from "effect"
import { spawn } from "node:child_process"
import type { ChildProcess } from "node:child_process"
import { PassThrough } from "node:stream"
import { baseEnv } from "./Git.ts"

export interface CgiRequest {
  readonly method: string
  /** Lower-cased request headers. */
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly remoteAddress: string
  readonly body: Stream.Stream<Uint8Array, unknown>
  /** `GIT_PROJECT_ROOT`: the directory holding `<owner>/<repo>.git`. */
  readonly projectRoot: string
  /** `/<owner>/<repo>.git/<service path>` */
  readonly pathInfo: string
  readonly query: string
  readonly remoteUser: string | undefined
  /** Every program started is handed over, so the emulator can kill what is left on close. */
  readonly track: (child: ChildProcess) => void
  /** Runs after the program exited (with its exit code), before the answer's body ends. */
  readonly after: (code: number) => Effect.Effect<void>
}

export interface CgiAnswer {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: Stream.Stream<Uint8Array>
}

const splitHeaders = (buffer: Buffer): { readonly end: number; readonly separator: number } | undefined => {
  const crlf = buffer.indexOf("\r\n\r\n")
  const lf = buffer.indexOf("\n\n")
  const end = crlf >= 0 && (lf < 0 || crlf < lf) ? crlf : lf
  return end < 0 ? undefined : { end, separator: end === crlf ? 4 : 2 }
}

/** Starts `git http-backend` for the request; succeeds once its headers are known (or it failed). */
export const serveHttp = (input: CgiRequest): Effect.Effect<CgiAnswer> =>
  Effect.gen(function*() {
    const env: NodeJS.ProcessEnv = {
      ...baseEnv(),
      GIT_PROJECT_ROOT: input.projectRoot,
      GIT_HTTP_EXPORT_ALL: "1",
      PATH_INFO: input.pathInfo,
      QUERY_STRING: input.query,
      REQUEST_METHOD: input.method,
      CONTENT_TYPE: input.headers["content-type"] ?? "",
      REMOTE_ADDR: input.remoteAddress,
      GIT_HTTP_MAX_REQUEST_BUFFER: String(100 * 1024 * 1024)
    }
    if (input.remoteUser) env["REMOTE_USER"] = input.remoteUser
    if (input.headers["content-length"]) env["CONTENT_LENGTH"] = input.headers["content-length"]
    if (input.headers["content-encoding"]) env["HTTP_CONTENT_ENCODING"] = input.headers["content-encoding"]
    if (input.headers["git-protocol"]) env["GIT_PROTOCOL"] = input.headers["git-protocol"]

    const exited = yield* Deferred.make<number>()
    const child = spawn("git", ["http-backend"], { env, stdio: ["pipe", "pipe", "pipe"] })
    input.track(child)
    const requestBody = NodeStream.toReadableNever(input.body)
    requestBody.on("error", () => child.stdin.destroy())
    requestBody.pipe(child.stdin)
    child.stdin.on("error", () => {})
    let stderr = ""
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    const output = new PassThrough()

    const head = yield* Effect.callback<{ readonly status: number; readonly headers: Record<string, string> }>(
      (resume) => {
        let buffer = Buffer.alloc(0)
        let headersDone = false
        child.stdout.on("data", (chunk: Buffer) => {
          if (headersDone) {
            if (!output.write(chunk)) {
              child.stdout.pause()
              output.once("drain", () => child.stdout.resume())
            }
            return
          }
          buffer = Buffer.concat([buffer, chunk])
          const split = splitHeaders(buffer)
          if (!split) return
          headersDone = true
          let status = 200
          const headers: Record<string, string> = {}
          for (const line of buffer.subarray(0, split.end).toString("latin1").split(/\r?\n/)) {
            const colon = line.indexOf(":")
            if (colon < 0) continue
            const name = line.slice(0, colon).trim().toLowerCase()
            const value = line.slice(colon + 1).trim()
            if (name === "status") status = Number.parseInt(value, 10) || 200
            else headers[name] = value
          }
          const rest = buffer.subarray(split.end + split.separator)
          if (rest.length > 0) output.write(rest)
          resume(Effect.succeed({ status, headers }))
        })
        child.on("close", (code) => {
          Deferred.doneUnsafe(exited, Effect.succeed(code ?? 1))
          if (!headersDone) {
            headersDone = true
            output.end(stderr || "git http-backend failed\n")
            resume(Effect.succeed({ status: 500, headers: { "content-type": "text/plain" } }))
          }
        })
        child.on("error", (error) => {
          Deferred.doneUnsafe(exited, Effect.succeed(1))
          if (!headersDone) {
            headersDone = true
            output.end(`${error.message}\n`)
            resume(Effect.succeed({ status: 500, headers: { "content-type": "text/plain" } }))
          }
        })
      }
    )

    // The body: the program's output, then `after` once it exited; only then does the answer end.
    const finish = Effect.gen(function*() {
      const code = yield* Deferred.await(exited)
      yield* input.after(code)
      if (!output.writableEnded) output.end()
    })
    const body = NodeStream.fromReadable({ evaluate: () => output, closeOnDone: true }).pipe(
      Stream.merge(Stream.fromEffectDrain(finish)),
      Stream.orDie
    )
    return { status: head.status, headers: head.headers, body }
  })

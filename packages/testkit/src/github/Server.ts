/**
 * One request, start to end: git smart HTTP paths go to `git http-backend` (Basic auth with a token,
 * like `https://x-access-token:<token>@…`); everything else is the REST API — JSON body, token, route,
 * handler, and GitHub's headers on the answer.
 */
import { Effect } from "effect"
import type { ChildProcess } from "node:child_process"
import { randomBytes } from "node:crypto"
import type { IncomingMessage, ServerResponse } from "node:http"
import { authenticate, authorize, credentialOf } from "./Auth.ts"
import * as Git from "./Git.ts"
import type { ApiError, Reply, Route } from "./Http.ts"
import { badRequest, makeRouter, notFound } from "./Http.ts"
import type { Principal, State } from "./State.ts"

const MAX_BODY_BYTES = 25 * 1024 * 1024
const GIT_PATH = /^\/([^/]+)\/([^/]+?)(?:\.git)?\/(info\/refs|git-upload-pack|git-receive-pack|HEAD|objects\/.+)$/

const readBody = (request: IncomingMessage) =>
  Effect.callback<Buffer | "tooLarge">((resume) => {
    const chunks: Array<Buffer> = []
    let size = 0
    request.on("data", (chunk: Buffer) => {
      size += chunk.length
      if (size <= MAX_BODY_BYTES) chunks.push(chunk)
    })
    request.on("end", () => resume(Effect.succeed(size > MAX_BODY_BYTES ? "tooLarge" : Buffer.concat(chunks))))
    request.on("error", () => resume(Effect.succeed(Buffer.alloc(0))))
  })

const send = (response: ServerResponse, reply: Reply, extraHeaders: Record<string, string>) => {
  if (response.headersSent) return
  for (const [name, value] of Object.entries(extraHeaders)) response.setHeader(name, value)
  response.statusCode = reply.status
  switch (reply._tag) {
    case "Json": {
      for (const [name, value] of Object.entries(reply.headers ?? {})) response.setHeader(name, value)
      response.setHeader("content-type", "application/json; charset=utf-8")
      response.end(JSON.stringify(reply.body))
      return
    }
    case "Text":
      response.setHeader("content-type", reply.contentType)
      response.end(reply.body)
      return
    case "Empty":
      response.end()
  }
}

const errorReply = (error: ApiError): Reply => ({ _tag: "Json", status: error.status, body: error.body })

export interface ServerOptions {
  readonly state: State
  readonly routes: ReadonlyArray<Route>
  readonly dataDir: string
  readonly track: (child: ChildProcess) => void
}

export const makeHandler = (options: ServerOptions) => {
  const { state } = options
  const router = makeRouter(options.routes)

  const gitDenied = (response: ServerResponse, status: number, message: string) => {
    response.statusCode = status
    if (status === 401) response.setHeader("www-authenticate", "Basic realm=\"GitHub\"")
    response.setHeader("content-type", "text/plain; charset=utf-8")
    response.end(`${message}\n`)
  }

  const serveGit = (request: IncomingMessage, response: ServerResponse, url: URL, match: RegExpExecArray) =>
    Effect.gen(function*() {
      const repo = state.repo(decodeURIComponent(match[1]!), decodeURIComponent(match[2]!))
      const write = match[3] === "git-receive-pack" || url.searchParams.get("service") === "git-receive-pack"
      const header = request.headers["authorization"]
      let token = credentialOf(header)
      if (header !== undefined && /^basic\s/i.test(header) && token === "") {
        // `https://<token>@host/…`: the token arrives as the user name.
        const decoded = Buffer.from(header.trim().slice(6), "base64").toString("utf8")
        token = decoded.slice(0, decoded.indexOf(":") < 0 ? undefined : decoded.indexOf(":"))
      }
      const principal = yield* Effect.result(authenticate(state, token))
      if (principal._tag === "Failure" || principal.success._tag === "App") {
        return gitDenied(
          response,
          401,
          "remote: Invalid username or token. Password authentication is not supported for Git operations."
        )
      }
      const who: Principal = principal.success
      if (!repo) {
        return who._tag === "Anonymous"
          ? gitDenied(response, 401, "Authentication required")
          : gitDenied(response, 404, "remote: Repository not found.")
      }
      const allowed = yield* Effect.result(authorize(state, who, repo, {
        role: write ? "write" : "read",
        scope: "contents",
        level: write ? "write" : "read"
      }))
      if (allowed._tag === "Failure") {
        if (who._tag === "Anonymous") return gitDenied(response, 401, "Authentication required")
        if (allowed.failure.status === 404) return gitDenied(response, 404, "remote: Repository not found.")
        const login = who._tag === "User" ? who.account.login : state.app.bot.login
        const denied = `remote: Permission to ${repo.owner.login}/${repo.name}.git denied to ${login}.`
        return gitDenied(response, 403, denied)
      }
      const remoteUser = who._tag === "User"
        ? who.account.login
        : who._tag === "Installation"
        ? state.app.bot.login
        : undefined
      const afterPush = Effect.gen(function*() {
        repo.pushedAt = state.now()
        repo.updatedAt = state.now()
        const branches = yield* Git.branches(repo.gitDir)
        if (branches.length > 0 && !branches.some((branch) => branch.name === repo.defaultBranch)) {
          // The first branch pushed to an empty repository becomes its default, as on GitHub.
          repo.defaultBranch = branches[0]!.name
          yield* Git.setHead(repo.gitDir, repo.defaultBranch)
        }
      })
      const served = yield* Effect.promise(() =>
        Git.serveHttp({
          request,
          response,
          projectRoot: options.dataDir,
          pathInfo: `/${repo.owner.login}/${repo.name}.git/${match[3]}`,
          query: url.search.replace(/^\?/, ""),
          remoteUser,
          track: options.track
        })
      )
      yield* (write && match[3] === "git-receive-pack" ? afterPush : Effect.void).pipe(
        Effect.ensuring(Effect.sync(() => served.end()))
      )
    })

  const serveApi = (request: IncomingMessage, response: ServerResponse, url: URL) =>
    Effect.gen(function*() {
      const hex = (size: number) => randomBytes(size).toString("hex").toUpperCase()
      const requestId = `${hex(2)}:${hex(3)}`
      const headers: Record<string, string> = {
        // The emulator's clock (shiftable): Octokit's App auth reads `Date` to correct JWT clock skew.
        "date": new Date(state.now()).toUTCString(),
        "x-github-media-type": "github.v3; format=json",
        "x-github-request-id": requestId,
        "x-github-api-version-selected": "2022-11-28",
        "x-ratelimit-limit": "5000",
        "x-ratelimit-remaining": "4999",
        "x-ratelimit-reset": String(Math.floor(state.now() / 1000) + 3600),
        "x-ratelimit-used": "1",
        "x-ratelimit-resource": "core"
      }
      const reply = yield* Effect.gen(function*() {
        const method = (request.method ?? "GET").toUpperCase()
        const match = router.match(method, url.pathname)
        const raw = yield* readBody(request)
        if (raw === "tooLarge") return { _tag: "Json", status: 413, body: { message: "Payload too large" } } as const
        if (match === undefined || match === "methodNotAllowed") return errorReply(notFound())
        let body: unknown = undefined
        if (raw.length > 0) {
          try {
            body = JSON.parse(raw.toString("utf8"))
          } catch {
            return errorReply(badRequest("Problems parsing JSON"))
          }
        }
        const emulatorOnly = url.pathname.startsWith("/_emulator/")
        const principal = emulatorOnly
          ? { _tag: "Anonymous" as const }
          : yield* authenticate(state, credentialOf(request.headers["authorization"]))
        return yield* match.route.handler({
          method,
          path: url.pathname,
          params: match.params,
          query: url.searchParams,
          headers: request.headers,
          body,
          principal
        }).pipe(Effect.withSpan(`GitHubEmulator ${method} ${match.route.path}`))
      }).pipe(
        Effect.catchTag("ApiError", (error) => Effect.succeed(errorReply(error))),
        Effect.catchDefect((defect) =>
          Effect.succeed<Reply>({
            _tag: "Json",
            status: 500,
            body: { message: `Emulator error: ${defect instanceof Error ? defect.message : String(defect)}` }
          })
        )
      )
      send(response, reply, headers)
    })

  return (request: IncomingMessage, response: ServerResponse): Effect.Effect<void> => {
    const url = new URL(request.url ?? "/", "http://127.0.0.1")
    const git = GIT_PATH.exec(url.pathname)
    return git ? serveGit(request, response, url, git) : serveApi(request, response, url)
  }
}

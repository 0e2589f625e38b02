/**
 * A tiny stand-in for GitHub used by the runner's tests: bare repositories served over smart HTTP
 * by `git http-backend` (token checked as Basic `x-access-token:<token>`, partial clone allowed),
 * and the three REST calls the runner makes (list/create pulls, read the repository). It records
 * what it saw so tests can check the token never travelled elsewhere.
 */
import { execFileSync, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"

export interface Pull {
  readonly number: number
  readonly title: string
  readonly body: string
  readonly head: string
  readonly base: string
  readonly html_url: string
  readonly state: "open"
}

export interface FakeForge {
  readonly url: string
  readonly token: string
  readonly cloneUrl: (fullName: string) => string
  /** Creates `owner/name` with one commit on `main` (README.md). */
  readonly createRepo: (fullName: string, files?: Record<string, string>) => void
  readonly git: (fullName: string, args: ReadonlyArray<string>) => string
  readonly pulls: ReadonlyArray<Pull>
  readonly requests: ReadonlyArray<{ readonly method: string; readonly url: string; readonly authorized: boolean }>
  readonly close: () => Promise<void>
}

const gitEnv = {
  PATH: process.env["PATH"],
  HOME: process.env["HOME"],
  LANG: "C",
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_CONFIG_GLOBAL: "/dev/null",
  GIT_AUTHOR_NAME: "Octo Cat",
  GIT_AUTHOR_EMAIL: "octo@example.com",
  GIT_COMMITTER_NAME: "Octo Cat",
  GIT_COMMITTER_EMAIL: "octo@example.com"
}

const readBody = (request: IncomingMessage) =>
  new Promise<Buffer>((resolve, reject) => {
    const chunks: Array<Buffer> = []
    request.on("data", (c: Buffer) => chunks.push(c))
    request.on("end", () => resolve(Buffer.concat(chunks)))
    request.on("error", reject)
  })

export const start = async (): Promise<FakeForge> => {
  const root = mkdtempSync(join(tmpdir(), "porter-forge-"))
  const token = `ghs_${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`
  const pulls: Array<Pull> = []
  const requests: Array<{ method: string; url: string; authorized: boolean }> = []
  let url = ""

  const repoDir = (fullName: string) => join(root, `${fullName}.git`)
  const git = (fullName: string, args: ReadonlyArray<string>) =>
    execFileSync("git", ["--git-dir", repoDir(fullName), ...args], { env: gitEnv, encoding: "utf8" }).trim()

  const createRepo = (fullName: string, files: Record<string, string> = { "README.md": "# hello\n" }) => {
    const bare = repoDir(fullName)
    execFileSync("git", ["init", "-q", "--bare", "-b", "main", bare], { env: gitEnv })
    execFileSync("git", ["--git-dir", bare, "config", "http.receivepack", "true"], { env: gitEnv })
    execFileSync("git", ["--git-dir", bare, "config", "uploadpack.allowFilter", "true"], { env: gitEnv })
    const work = mkdtempSync(join(tmpdir(), "porter-seed-"))
    try {
      execFileSync("git", ["init", "-q", "-b", "main", work], { env: gitEnv })
      for (const [file, content] of Object.entries(files)) {
        execFileSync("sh", ["-c", `mkdir -p "$(dirname "$1")" && printf %s "$2" > "$1"`, "sh", join(work, file), content])
      }
      execFileSync("git", ["-C", work, "add", "-A"], { env: gitEnv })
      execFileSync("git", ["-C", work, "commit", "-q", "-m", "Initial commit"], { env: gitEnv })
      execFileSync("git", ["-C", work, "push", "-q", bare, "main"], { env: gitEnv })
    } finally {
      rmSync(work, { recursive: true, force: true })
    }
  }

  const authorized = (request: IncomingMessage): boolean => {
    const header = request.headers.authorization ?? ""
    if (header === `Bearer ${token}` || header === `token ${token}`) return true
    const basic = /^Basic (.+)$/.exec(header)
    if (!basic) return false
    const [user, password] = Buffer.from(basic[1]!, "base64").toString("utf8").split(":")
    return user === "x-access-token" && password === token
  }

  const json = (response: ServerResponse, status: number, body: unknown) => {
    response.writeHead(status, { "content-type": "application/json" })
    response.end(JSON.stringify(body))
  }

  const serveGit = async (request: IncomingMessage, response: ServerResponse, path: string, query: string) => {
    const match = /^\/([^/]+\/[^/]+?)\.git(\/.*)$/.exec(path)
    if (!match) return json(response, 404, { message: "Not Found" })
    const [, fullName, rest] = match as unknown as [string, string, string]
    if (!authorized(request)) {
      response.writeHead(401, { "www-authenticate": "Basic realm=\"fake\"" })
      return response.end()
    }
    const body = await readBody(request)
    const child = spawn("git", ["http-backend"], {
      env: {
        ...gitEnv,
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: "1",
        REQUEST_METHOD: request.method ?? "GET",
        PATH_INFO: `/${fullName}.git${rest}`,
        QUERY_STRING: query,
        CONTENT_TYPE: request.headers["content-type"] ?? "",
        CONTENT_LENGTH: String(body.length),
        GIT_PROTOCOL: String(request.headers["git-protocol"] ?? ""),
        REMOTE_USER: "x-access-token",
        REMOTE_ADDR: "127.0.0.1"
      }
    })
    child.stdin.end(body)
    const out: Array<Buffer> = []
    child.stdout.on("data", (c: Buffer) => out.push(c))
    child.on("close", () => {
      const raw = Buffer.concat(out)
      const split = raw.indexOf("\r\n\r\n")
      const headerText = raw.subarray(0, split).toString("utf8")
      const headers: Record<string, string> = {}
      let status = 200
      for (const line of headerText.split("\r\n")) {
        const [name, ...value] = line.split(":")
        if (!name) continue
        if (name.toLowerCase() === "status") status = Number(value.join(":").trim().split(" ")[0])
        else headers[name] = value.join(":").trim()
      }
      response.writeHead(status, headers)
      response.end(raw.subarray(split + 4))
    })
  }

  const serveApi = async (request: IncomingMessage, response: ServerResponse, path: string, search: URLSearchParams) => {
    if (!authorized(request)) return json(response, 401, { message: "Bad credentials" })
    const repoMatch = /^\/repos\/([^/]+)\/([^/]+)(\/pulls)?$/.exec(path)
    if (!repoMatch) return json(response, 404, { message: "Not Found" })
    const fullName = `${repoMatch[1]}/${repoMatch[2]}`
    if (repoMatch[3] === undefined) return json(response, 200, { full_name: fullName, default_branch: "main" })
    if (request.method === "GET") {
      const head = search.get("head") ?? ""
      return json(response, 200, pulls.filter((p) => `${repoMatch[1]}:${p.head}` === head || head === ""))
    }
    const body = JSON.parse((await readBody(request)).toString("utf8")) as Record<string, string>
    if (pulls.some((p) => p.head === body["head"])) {
      return json(response, 422, { message: "Validation Failed", errors: [{ message: "A pull request already exists" }] })
    }
    const number = pulls.length + 1
    const pull: Pull = {
      number,
      title: body["title"] ?? "",
      body: body["body"] ?? "",
      head: body["head"] ?? "",
      base: body["base"] ?? "",
      html_url: `${url}/${fullName}/pull/${number}`,
      state: "open"
    }
    pulls.push(pull)
    return json(response, 201, pull)
  }

  const server = createServer((request, response) => {
    const parsed = new URL(request.url ?? "/", "http://localhost")
    requests.push({ method: request.method ?? "GET", url: parsed.pathname, authorized: authorized(request) })
    const handler = parsed.pathname.includes(".git/")
      ? serveGit(request, response, parsed.pathname, parsed.search.replace(/^\?/, ""))
      : serveApi(request, response, parsed.pathname, parsed.searchParams)
    handler.catch((error: unknown) => json(response, 500, { message: String(error) }))
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  return {
    url,
    token,
    cloneUrl: (fullName) => `${url}/${fullName}.git`,
    createRepo,
    git,
    pulls,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
        rmSync(root, { recursive: true, force: true })
      })
  }
}

/**
 * The Porter the runner's tests talk to: the machine's part of Porter's HTTP API on one port, with the same paths
 * and answers as `@porter/core`'s `CallbacksApi` and `GitProxy`, all under the task token.
 *
 * - `POST /callbacks/tasks/:id`: records the callback, answers 200 (or what `answer` says: 409 is `TaskEnded`).
 * - `GET /git/tasks/:id/info/refs`, `POST /git/tasks/:id/git-upload-pack`: the task's repository, read-only,
 *   forwarded to the GitHub emulator with Porter's own installation token (never the machine's). Anything else under
 *   `/git/` (a push) is 403.
 * - `POST /callbacks/tasks/:id/changes`: decodes the body with core's `ChangeSet` schema, records it, checks `bases`
 *   against the base commit's tree, and "publishes" it as Porter would: one commit per proposed commit (its message
 *   and author) on the task's branch of the emulator's repository, made with `git fast-import` on the bare repository
 *   (or answers what `answerChanges` says: 422 `Refused`, 503 `Unavailable`, 413…).
 */
import { ChangeSet } from "@porter/core"
import { Schema } from "effect"
import { createHash, randomBytes } from "node:crypto"
import { createServer, type IncomingMessage } from "node:http"
import type { AddressInfo } from "node:net"
import type { Forge } from "./Forge.ts"

export interface ReceivedCallback {
  readonly taskId: string
  readonly authorization: string | undefined
  readonly body: Record<string, unknown> & { readonly type: string }
  readonly raw: string
}

export interface ReceivedChangeSet {
  readonly taskId: string
  readonly authorization: string | undefined
  readonly bytes: number
  /** The decoded change set (`undefined` when it did not decode: see `error`). */
  readonly changeSet: ChangeSet.ChangeSet | undefined
  readonly error: string | undefined
  /** Each path of `bases`: whether its content is the base tree's blob. */
  readonly basesMatch: Readonly<Record<string, boolean>>
  /** The status answered. */
  readonly status: number
}

export interface GitRequest {
  readonly taskId: string
  readonly method: string
  readonly path: string
  readonly authorization: string | undefined
}

export interface FakePorter {
  readonly url: string
  /** The task token every task gets here (as `CALLBACK_TOKEN`). */
  readonly token: string
  /** Serves `repo` to `taskId` (its branch: where its change set is published); the task's URLs. */
  readonly task: (
    taskId: string,
    repo: string,
    branch: string
  ) => { readonly cloneUrl: string; readonly callbackUrl: string }
  readonly received: (taskId: string) => ReadonlyArray<ReceivedCallback>
  readonly completed: (taskId: string) => (Record<string, unknown> & { readonly type: string }) | undefined
  /** How to answer a task's callbacks (default 200; 409 says the task has ended). */
  readonly answer: (taskId: string, status: (callback: ReceivedCallback, index: number) => number) => void
  /** Porter asks the task's runner to stop (cancelled, over budget): `why` in every answer to a heartbeat. */
  readonly stop: (taskId: string, why: string) => void
  readonly changes: (taskId: string) => ReadonlyArray<ReceivedChangeSet>
  /** How to answer a task's change sets, by attempt (default: publish, 200). */
  readonly answerChanges: (taskId: string, status: (index: number) => number) => void
  readonly gitRequests: (taskId: string) => ReadonlyArray<GitRequest>
  readonly close: () => Promise<void>
}

const readBody = (request: IncomingMessage): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    request.on("data", (c: Buffer) => chunks.push(c))
    request.on("end", () => resolve(Buffer.concat(chunks)))
    request.on("error", reject)
  })

const decodeChangeSet = Schema.decodeUnknownSync(Schema.fromJsonString(ChangeSet.ChangeSet))

const blobSha = (bytes: Buffer) => createHash("sha1").update(`blob ${bytes.byteLength}\0`).update(bytes).digest("hex")

/** `author Name <email> <epoch> <+hhmm>` from an ISO 8601 date with its offset. */
const signature = (author: ChangeSet.ProposedCommit["author"]) => {
  const offset = /([+-])(\d\d):?(\d\d)$/.exec(author.date)
  const tz = offset === null ? "+0000" : `${offset[1]}${offset[2]}${offset[3]}`
  return `${author.name} <${author.email}> ${Math.floor(Date.parse(author.date) / 1000)} ${tz}`
}

/** The `git fast-import` stream committing `changeSet` on `branch`, from its base. */
const fastImport = (changeSet: ChangeSet.ChangeSet, branch: string): Buffer => {
  const parts: Array<Buffer | string> = []
  const data = (bytes: Buffer) => parts.push(`data ${bytes.byteLength}\n`, bytes, "\n")
  changeSet.commits.forEach((commit, index) => {
    parts.push(`commit refs/heads/${branch}\n`, `author ${signature(commit.author)}\n`)
    parts.push(`committer Porter <porter@example.com> ${Math.floor(Date.now() / 1000)} +0000\n`)
    data(Buffer.from(commit.message))
    if (index === 0) parts.push(`from ${changeSet.base}\n`)
    for (const change of commit.changes) {
      if (change._tag === "delete") {
        parts.push(`D ${change.path}\n`)
      } else {
        parts.push(`M ${change.mode} inline ${change.path}\n`)
        data(Buffer.from(change.content, "base64"))
      }
    }
    parts.push("\n")
  })
  return Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p) : p)))
}

const refusalBody = (status: number) =>
  status === 409
    ? { _tag: "TaskEnded", state: "cancelled", message: "task is already cancelled" }
    : status === 422
    ? {
      _tag: "Refused",
      message: "Porter refused the change set",
      problems: ["`.github/workflows/ci.yml` is a GitHub Actions workflow: this repository's settings do not allow it"]
    }
    : status === 503
    ? { _tag: "Unavailable", message: "GitHub is unavailable, try again" }
    : status === 413
    ? { _tag: "PayloadTooLarge", message: "the body is too large" }
    : { _tag: status === 401 ? "Unauthorized" : "BadRequest", message: `HTTP ${status}` }

export const start = async (forge: Forge): Promise<FakePorter> => {
  const token = `cbt_${randomBytes(18).toString("base64url")}`
  const tasks = new Map<string, { readonly repo: string; readonly branch: string }>()
  const received: Array<ReceivedCallback> = []
  const changes: Array<ReceivedChangeSet> = []
  const gitRequests: Array<GitRequest> = []
  const answers = new Map<string, (callback: ReceivedCallback, index: number) => number>()
  const stops = new Map<string, string>()
  const changeAnswers = new Map<string, (index: number) => number>()
  const upstreamAuth = `Basic ${Buffer.from(`x-access-token:${forge.token}`).toString("base64")}`

  const publish = (taskId: string, changeSet: ChangeSet.ChangeSet) => {
    const task = tasks.get(taskId)!
    forge.git(task.repo, ["fast-import", "--quiet"], fastImport(changeSet, task.branch))
    const commits = forge.git(task.repo, ["rev-list", "--reverse", `${changeSet.base}..refs/heads/${task.branch}`])
      .split("\n")
    return {
      branch: task.branch,
      commits,
      pullRequest: { number: 1, url: `${forge.url}/${task.repo}/pull/1` }
    }
  }

  const server = createServer((request, response) => {
    void (async () => {
      const url = new URL(request.url ?? "/", "http://porter")
      const authorization = request.headers.authorization
      const body = await readBody(request)
      const reply = (status: number, json: unknown) => {
        response.writeHead(status, { "content-type": "application/json" })
        response.end(JSON.stringify(json))
      }

      const git = /^\/git\/tasks\/([^/]+)\/(.*)$/.exec(url.pathname)
      if (git !== null) {
        const [, taskId = "", rest = ""] = git
        gitRequests.push({ taskId, method: request.method ?? "", path: url.pathname + url.search, authorization })
        const task = tasks.get(taskId)
        if (authorization !== `Bearer ${token}`) return reply(401, { _tag: "Unauthorized", message: "bad token" })
        if (task === undefined) return reply(404, { _tag: "NotFound", message: "no such task" })
        const readOnly = (rest === "info/refs" && url.searchParams.get("service") === "git-upload-pack") ||
          (rest === "git-upload-pack" && request.method === "POST")
        if (!readOnly) return reply(403, { _tag: "Forbidden", message: "read-only" })
        const headers: Record<string, string> = { authorization: upstreamAuth }
        for (const name of ["git-protocol", "content-type", "content-encoding", "accept"]) {
          const value = request.headers[name]
          if (typeof value === "string") headers[name] = value
        }
        const upstream = await fetch(`${forge.url}/${task.repo}.git/${rest}${url.search}`, {
          method: request.method ?? "GET",
          headers,
          ...(request.method === "POST" ? { body } : {})
        })
        const out = Buffer.from(await upstream.arrayBuffer())
        response.writeHead(upstream.status, {
          "content-type": upstream.headers.get("content-type") ?? "application/octet-stream",
          "cache-control": "no-cache"
        })
        return response.end(out)
      }

      const callback = /^\/callbacks\/tasks\/([^/]+)(\/changes)?$/.exec(url.pathname)
      if (callback === null || request.method !== "POST") return reply(404, { _tag: "NotFound", message: "no route" })
      const taskId = callback[1] ?? ""
      if (authorization !== `Bearer ${token}`) return reply(401, { _tag: "Unauthorized", message: "bad token" })

      if (callback[2] !== undefined) {
        const index = changes.filter((c) => c.taskId === taskId).length
        let changeSet: ChangeSet.ChangeSet | undefined
        let error: string | undefined
        try {
          changeSet = decodeChangeSet(body.toString("utf8"))
        } catch (e) {
          error = String(e)
        }
        const basesMatch: Record<string, boolean> = {}
        for (const [path, content] of Object.entries(changeSet?.bases ?? {})) {
          const sha = forge.tryGit(tasks.get(taskId)!.repo, [
            "rev-parse",
            "-q",
            "--verify",
            `${changeSet!.base}:${path}`
          ])
          basesMatch[path] = sha === blobSha(Buffer.from(content, "base64"))
        }
        const status = body.byteLength > ChangeSet.MAX_BODY_BYTES
          ? 413
          : changeSet === undefined
          ? 400
          : (changeAnswers.get(taskId)?.(index) ?? 200)
        changes.push({ taskId, authorization, bytes: body.byteLength, changeSet, error, basesMatch, status })
        if (status !== 200 || changeSet === undefined) {
          return reply(status, status === 400 ? { _tag: "BadRequest", message: error } : refusalBody(status))
        }
        return reply(200, publish(taskId, changeSet))
      }

      const raw = body.toString("utf8")
      const entry = { taskId, authorization, body: JSON.parse(raw), raw }
      received.push(entry)
      const status = answers.get(taskId)?.(entry, received.filter((r) => r.taskId === taskId).length - 1) ?? 200
      // What Porter's API answers (`@porter/core`'s Api: 409 is `TaskEnded`).
      const stop = entry.body.type === "heartbeat" ? stops.get(taskId) : undefined
      return reply(
        status,
        status === 200
          ? { accepted: true, state: "running", ...(stop !== undefined ? { stop } : {}) }
          : refusalBody(status)
      )
    })().catch((error: unknown) => {
      response.writeHead(500, { "content-type": "text/plain" })
      response.end(String(error))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    url: base,
    token,
    task: (taskId, repo, branch) => {
      tasks.set(taskId, { repo, branch })
      return { cloneUrl: `${base}/git/tasks/${taskId}`, callbackUrl: `${base}/callbacks/tasks/${taskId}` }
    },
    received: (taskId) => received.filter((r) => r.taskId === taskId),
    completed: (taskId) => received.find((r) => r.taskId === taskId && r.body.type === "completed")?.body,
    answer: (taskId, status) => void answers.set(taskId, status),
    stop: (taskId, why) => void stops.set(taskId, why),
    changes: (taskId) => changes.filter((c) => c.taskId === taskId),
    answerChanges: (taskId, status) => void changeAnswers.set(taskId, status),
    gitRequests: (taskId) => gitRequests.filter((r) => r.taskId === taskId),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}

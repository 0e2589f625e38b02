/**
 * GitProxy: a machine's read-only view of its task's repository. The machine clones `<publicUrl>/git/tasks/<taskId>`
 * with its task token; Porter forwards git's upload-pack (and nothing else: no push) to the git host with a token of
 * its own, which never reaches the machine. Only while the task is active: a finished task's token reads nothing.
 *
 * Upstream tokens (`RepoTokens`) are kept for a few minutes per repository, so a clone's two or three requests mint
 * one token, not three. So is the host's protocol-v2 capability advertisement (git's first request, `info/refs`,
 * answers only what the server can do, no refs): later clones of the repository get it from here, a round trip to
 * the git host fewer before the clone's own requests.
 */
import { Clock, Context, Effect, Layer, Redacted, Schema, Stream } from "effect"
import { HttpClient, HttpClientRequest } from "effect/http"
import type { StoreError, TaskNotFound, TokenError } from "./Errors.ts"
import type { TaskId } from "./Ids.ts"
import { PorterConfig } from "./PorterConfig.ts"
import type { RepoRef } from "./Repo.ts"
import { RepoTokens } from "./RepoTokens.ts"
import { TaskState } from "./Task.ts"
import { TaskStore } from "./TaskStore.ts"

/** The task has ended: its repository is no longer served to its machine. */
export class GitTaskEnded extends Schema.TaggedError<GitTaskEnded>()("GitTaskEnded", {
  state: TaskState
}) {
  override get message(): string {
    return `task is already ${this.state}: its repository is no longer served`
  }
}

/** The git host could not be reached (or Porter could not get a token for it). */
export class GitUpstreamError extends Schema.TaggedError<GitUpstreamError>()("GitUpstreamError", {
  message: Schema.String
}) {}

/** One of git's two read requests, as the machine sent it. */
export type GitRequest =
  | { readonly _tag: "refs"; readonly headers: Readonly<Record<string, string | undefined>> }
  | {
    readonly _tag: "uploadPack"
    readonly headers: Readonly<Record<string, string | undefined>>
    readonly body: Uint8Array
  }

/** The git host's answer, streamed back as it comes. */
export interface GitResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: Stream.Stream<Uint8Array, unknown>
}

/** A machine's read-only view of its task's repository. */
export class GitProxy extends Context.Service<GitProxy, {
  readonly forward: (
    taskId: TaskId,
    request: GitRequest
  ) => Effect.Effect<GitResponse, GitTaskEnded | GitUpstreamError | TaskNotFound | StoreError>
}>()("@porter/core/GitProxy") {}

// Request headers git's protocol needs (v2 is asked for with `Git-Protocol`); nothing else is passed on, least of all
// the machine's `Authorization`.
const forwardedRequestHeaders = ["git-protocol", "content-type", "content-encoding", "accept"] as const
const forwardedResponseHeaders = ["content-type", "cache-control", "expires", "pragma"] as const

const TOKEN_TTL_MS = 10 * 60 * 1000
const ADVERTISEMENT_TTL_MS = 10 * 60 * 1000

// What a protocol-v2 `info/refs` answer starts with (pkt-lines): `version 2`, after the service line and a flush on
// hosts that send one (git's own http-backend does not). Anything else (protocol v0 lists the refs) is passed through
// and never kept.
const V2_ADVERTISEMENT = /^(?:001e# service=git-upload-pack\n0000)?000eversion 2\n/
const MAX_ADVERTISEMENT_BYTES = 4096
const asksForV2 = (headers: Readonly<Record<string, string | undefined>>) =>
  (headers["git-protocol"] ?? "").split(":").includes("version=2")

/** The `GitProxy` service, built from its dependencies in the context. */
export const make = Effect.gen(function*() {
  const store = yield* TaskStore
  const repoTokens = yield* RepoTokens
  const config = yield* PorterConfig
  const client = yield* HttpClient.HttpClient
  const cached = new Map<string, { readonly token: Redacted.Redacted<string>; readonly until: number }>()
  const advertisements = new Map<string, {
    readonly headers: Readonly<Record<string, string>>
    readonly bytes: Uint8Array
    readonly until: number
  }>()

  const tokenFor = Effect.fnUntraced(function*(repo: RepoRef, installationId: number | undefined) {
    const key = `${installationId ?? ""}/${repo.fullName}`
    const now = yield* Clock.currentTimeMillis
    const hit = cached.get(key)
    if (hit !== undefined && hit.until > now) return hit.token
    const token = yield* repoTokens.mint(repo, installationId)
    cached.set(key, { token, until: now + TOKEN_TTL_MS })
    return token
  })

  const forward = Effect.fn("GitProxy.forward")(function*(taskId: TaskId, request: GitRequest) {
    const task = yield* store.get(taskId)
    if (task.isTerminal) return yield* new GitTaskEnded({ state: task.state })
    const v2Refs = request._tag === "refs" && asksForV2(request.headers)
    const advertisementKey = `${config.gitBaseUrl}/${task.repo.fullName}`
    if (v2Refs) {
      const kept = advertisements.get(advertisementKey)
      if (kept !== undefined && kept.until > (yield* Clock.currentTimeMillis)) {
        return { status: 200, headers: kept.headers, body: Stream.make(kept.bytes) } satisfies GitResponse
      }
    }
    const token = yield* tokenFor(task.repo, task.installationId).pipe(
      Effect.mapError((error: TokenError) =>
        new GitUpstreamError({ message: `no token for the git host: ${error.message}` })
      )
    )
    const base = `${config.gitBaseUrl.replace(/\/+$/, "")}/${task.repo.fullName}.git`
    const headers: Record<string, string> = {
      authorization: `Basic ${btoa(`x-access-token:${Redacted.value(token)}`)}`,
      "user-agent": "porter-git-proxy"
    }
    for (const name of forwardedRequestHeaders) {
      const value = request.headers[name]
      if (value !== undefined) headers[name] = value
    }
    const outgoing = request._tag === "refs"
      ? HttpClientRequest.get(`${base}/info/refs`, { urlParams: { service: "git-upload-pack" }, headers })
      : HttpClientRequest.post(`${base}/git-upload-pack`, { headers }).pipe(
        HttpClientRequest.bodyUint8Array(
          request.body,
          headers["content-type"] ?? "application/x-git-upload-pack-request"
        )
      )
    const response = yield* client.execute(outgoing).pipe(
      Effect.mapError((error) =>
        new GitUpstreamError({ message: `the git host could not be reached: ${error.message}` })
      )
    )
    const answer: Record<string, string> = {}
    for (const name of forwardedResponseHeaders) {
      const value = response.headers[name]
      if (value !== undefined) answer[name] = value
    }
    // A token the host refused is dropped, so the next request mints a fresh one.
    if (response.status === 401 || response.status === 403) {
      cached.delete(`${task.installationId ?? ""}/${task.repo.fullName}`)
    }
    if (v2Refs && response.status === 200) {
      const bytes = new Uint8Array(
        yield* response.arrayBuffer.pipe(
          Effect.mapError((error) =>
            new GitUpstreamError({ message: `the git host's answer broke off: ${error.message}` })
          )
        )
      )
      if (bytes.length <= MAX_ADVERTISEMENT_BYTES && V2_ADVERTISEMENT.test(new TextDecoder().decode(bytes))) {
        const until = (yield* Clock.currentTimeMillis) + ADVERTISEMENT_TTL_MS
        advertisements.set(advertisementKey, { headers: answer, bytes, until })
      }
      return { status: 200, headers: answer, body: Stream.make(bytes) } satisfies GitResponse
    }
    return { status: response.status, headers: answer, body: response.stream } satisfies GitResponse
  })

  return GitProxy.of({ forward })
})

/** `GitProxy` as a layer (`make`). */
export const layer: Layer.Layer<GitProxy, never, TaskStore | RepoTokens | PorterConfig | HttpClient.HttpClient> = Layer
  .effect(GitProxy, make)

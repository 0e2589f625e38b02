/**
 * The server side of the machine's groups (`CallbacksApi.ts`): the task-token middleware, the callbacks, the change
 * set and the read-only git proxy. `HttpApp` serves them with the rest of the API.
 *
 * Callback and change-set handlers are uninterruptible: a client that hangs up (a runner whose machine is being
 * destroyed by this very callback) must not cut a state change and its report in half.
 */
import { ByteSize, Effect, Layer, Option, Redacted, Stream } from "effect"
import { HttpIncomingMessage, HttpRouter, type HttpServerRequest, HttpServerResponse } from "effect/http"
import { HttpApiBuilder } from "effect/http-api"
import * as Api from "./Api.ts"
import { Artifacts } from "./Artifacts.ts"
import { bodyLimitFor } from "./CallbacksApi.ts"
import { ChangeSets } from "./ChangeSets.ts"
import { StoreError, WebhookTooLarge } from "./Errors.ts"
import { GitProxy, type GitRequest, type GitResponse } from "./GitProxy.ts"
import type { TaskId } from "./Ids.ts"
import { TaskLifecycle } from "./TaskLifecycle.ts"
import { TaskStore } from "./TaskStore.ts"
import { TaskTokens } from "./TaskTokens.ts"

const decoder = new TextDecoder()

/**
 * Reads at most `limit` bytes of the body. With a `Content-Length` within the limit the body is read in one go (the
 * hot path of every webhook); without one it streams and stops as soon as the limit is passed, so a large chunked
 * body is never buffered whole.
 */
export const readBytes = (request: HttpServerRequest.HttpServerRequest, limit: number) => {
  const declared = Number(request.headers["content-length"] ?? "NaN")
  if (Number.isFinite(declared)) {
    if (declared > limit) return Effect.fail(new WebhookTooLarge({ limitBytes: limit }))
    return Effect.flatMap(request.arrayBuffer, (buffer) =>
      buffer.byteLength > limit
        ? Effect.fail(new WebhookTooLarge({ limitBytes: limit }))
        : Effect.succeed(new Uint8Array(buffer)))
  }
  return Effect.suspend(() => {
    const chunks: Array<Uint8Array> = []
    let size = 0
    return Stream.runForEach(request.stream, (chunk) => {
      size += chunk.byteLength
      if (size > limit) return Effect.fail(new WebhookTooLarge({ limitBytes: limit }))
      chunks.push(chunk)
      return Effect.void
    }).pipe(Effect.map(() => {
      const bytes = new Uint8Array(size)
      let offset = 0
      for (const chunk of chunks) {
        bytes.set(chunk, offset)
        offset += chunk.byteLength
      }
      return bytes
    }))
  })
}

/** `readBytes` as UTF-8 text (webhook deliveries). */
export const readBody = (request: HttpServerRequest.HttpServerRequest, limit: number) =>
  Effect.map(readBytes(request, limit), (bytes) => decoder.decode(bytes))

export const unavailable = (error: StoreError) =>
  Effect.andThen(
    Effect.logError("storage failed", { error: error.message }),
    Effect.fail(new Api.Unavailable({ message: "storage unavailable, retry later" }))
  )

export const notFound = (error: { readonly message: string }) =>
  Effect.fail(new Api.NotFound({ message: error.message }))

export const orUnavailable = <A, E>(effect: Effect.Effect<A, E | StoreError>) =>
  Effect.catchIf(effect, (error): error is StoreError => error instanceof StoreError, unavailable)

/** The `:taskId` of the route being served, when it is one. */
export const taskIdParam = Effect.map(HttpRouter.RouteContext, (route) => route.params["taskId"] ?? "")

export const TaskAuthLive = Layer.effect(
  Api.TaskAuth,
  Effect.gen(function*() {
    const tokens = yield* TaskTokens
    const refused = new Api.Unauthorized({ message: "missing or wrong task token" })
    return Api.TaskAuth.of({
      // Verify before any read: an unknown task and a wrong token look the same from outside.
      bearer: (effect, { credential }) =>
        Effect.gen(function*() {
          const route = yield* HttpRouter.RouteContext
          const taskId = route.params["taskId"] ?? ""
          if (!(yield* tokens.verify(taskId, Redacted.value(credential)))) return yield* refused
          return yield* effect.pipe(
            Effect.provideService(Api.AuthenticatedTask, { taskId: taskId as TaskId }),
            Effect.provideService(
              HttpIncomingMessage.MaxBodySize,
              ByteSize.bytes(bodyLimitFor(String(route.route.path)))
            )
          )
        })
    })
  })
)

export const CallbacksLive = HttpApiBuilder.group(Api.Api, "callbacks", (handlers) =>
  Effect.gen(function*() {
    const lifecycle = yield* TaskLifecycle
    return handlers.handle(
      "send",
      ({ params, payload }) =>
        lifecycle.callback(params.taskId, payload).pipe(
          Effect.catchTag("TaskNotFound", notFound),
          orUnavailable,
          Effect.flatMap((answer) =>
            answer.accepted
              ? Effect.succeed(answer)
              : Effect.fail(new Api.TaskEnded({ state: answer.state, message: answer.message ?? "task has ended" }))
          )
        ),
      { uninterruptible: true }
    )
  }))

export const ChangesLive = HttpApiBuilder.group(Api.Api, "changes", (handlers) =>
  Effect.gen(function*() {
    const changeSets = yield* ChangeSets
    return handlers.handle(
      "publish",
      ({ params, payload }) =>
        changeSets.publish(params.taskId, payload).pipe(
          Effect.catchTags({
            ChangesRefused: (error) =>
              Effect.fail(new Api.Refused({ message: error.message, problems: error.problems })),
            TaskFinished: (error) =>
              Effect.fail(new Api.TaskEnded({ state: error.state, message: `task is already ${error.state}` })),
            TaskNotFound: notFound,
            RepoWriteError: (error) =>
              Effect.andThen(
                Effect.logError("writing the change set failed", { error: error.message, status: error.status }),
                Effect.fail(new Api.Unavailable({ message: `GitHub refused or failed the write: ${error.message}` }))
              )
          }),
          orUnavailable
        ),
      { uninterruptible: true }
    )
  }))

export const ArtifactsLive = HttpApiBuilder.group(Api.Api, "artifacts", (handlers) =>
  Effect.gen(function*() {
    const artifacts = yield* Artifacts
    const store = yield* TaskStore
    const activeTask = (taskId: TaskId) =>
      Effect.flatMap(store.get(taskId), (task) =>
        task.isTerminal
          ? Effect.fail(new Api.TaskEnded({ state: task.state, message: `task is already ${task.state}` }))
          : Effect.succeed(task))
    const storeFailed = (error: { readonly message: string }) =>
      Effect.andThen(
        Effect.logError("keeping an artifact failed", { error: error.message }),
        Effect.fail(new Api.Unavailable({ message: "the artifact could not be kept, retry later" }))
      )
    return handlers
      .handle("upload", ({ params, payload }) =>
        activeTask(params.taskId).pipe(
          Effect.flatMap((task) => artifacts.save(task, payload)),
          Effect.map((url) => (Option.isSome(url) ? { url: url.value } : {})),
          Effect.catchTags({ TaskNotFound: notFound, ArtifactError: storeFailed }),
          orUnavailable
        ), { uninterruptible: true })
      .handle("session", ({ params }) =>
        activeTask(params.taskId).pipe(
          Effect.flatMap(artifacts.sessionFor),
          Effect.flatMap((session) =>
            Option.isSome(session)
              ? Effect.succeed({ agent: session.value.agent, name: session.value.name, content: session.value.content })
              : Effect.fail(new Api.NotFound({ message: "no session to resume for this task" }))
          ),
          Effect.catchTags({ TaskNotFound: notFound, ArtifactError: storeFailed }),
          orUnavailable
        ))
  }))

const toServerResponse = (response: GitResponse) =>
  HttpServerResponse.stream(response.body, { status: response.status, headers: response.headers })

export const GitLive = HttpApiBuilder.group(Api.Api, "git", (handlers) =>
  Effect.gen(function*() {
    const proxy = yield* GitProxy
    const serve = (taskId: TaskId, request: GitRequest) =>
      proxy.forward(taskId, request).pipe(
        Effect.map(toServerResponse),
        Effect.catchTags({
          GitTaskEnded: (error) => Effect.fail(new Api.TaskEnded({ state: error.state, message: error.message })),
          GitUpstreamError: (error) =>
            Effect.andThen(
              Effect.logError("the git proxy failed", { error: error.message }),
              Effect.fail(new Api.Unavailable({ message: "the repository could not be read, retry later" }))
            ),
          TaskNotFound: notFound
        }),
        orUnavailable
      )
    return handlers
      .handleRaw("refs", ({ params, request }) => serve(params.taskId, { _tag: "refs", headers: request.headers }))
      .handleRaw("uploadPack", ({ params, request }) =>
        readBytes(request, bodyLimitFor(request.url.split("?")[0]!)).pipe(
          Effect.catchTags({
            WebhookTooLarge: (error) => Effect.fail(new Api.PayloadTooLarge({ message: error.message })),
            HttpServerError: () => Effect.fail(new Api.BadRequest({ message: "the request body could not be read" }))
          }),
          Effect.flatMap((body) => serve(params.taskId, { _tag: "uploadPack", headers: request.headers, body }))
        ))
  }))

/** The machine's groups and the task-token middleware. */
export const layer = Layer.mergeAll(CallbacksLive, ChangesLive, ArtifactsLive, GitLive).pipe(
  Layer.provide(TaskAuthLive)
)

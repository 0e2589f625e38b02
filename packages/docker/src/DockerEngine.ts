/**
 * A small typed client of the Docker Engine API over `effect/http`'s `HttpClient`: containers (create, start,
 * inspect, list by filter, stop, kill, remove, wait, logs), images (exists, import from a tarball), and the daemon
 * (ping, version, info). Answers are decoded with the schemas of `DockerApi`; statuses that are answers (404 on
 * inspect, 304 on start…) are values, the rest `DockerEngineError`s that say what failed and where.
 *
 * `layer` is for Node: it talks HTTP over the daemon's unix socket (`node:http` with `socketPath`) or over TCP.
 * `make`/`layerHttpClient` take any `HttpClient` (fetch-based runtimes can reach a `tcp://` daemon).
 * No retries: a local daemon that fails to answer is down, and a repeated create is made safe by the caller
 * (container names).
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Cause, Config, Context, Effect, Layer, Option, Schema } from "effect"
import { HttpClient, HttpClientError, HttpClientRequest } from "effect/http"
import type { HttpClientResponse } from "effect/http"
import * as DockerApi from "./DockerApi.ts"
import { describe, DockerEngineError, errnoOf, InvalidDockerHost } from "./DockerEngineError.ts"

export { DockerEngineError, type FailureKind, InvalidDockerHost } from "./DockerEngineError.ts"

/** Where the daemon is and how long short calls may take. */
export interface EngineOptions {
  /** `DOCKER_HOST` form (`unix:///var/run/docker.sock`, `tcp://127.0.0.1:2375`, `http://…`); default the socket. */
  readonly host?: string | undefined
  /** Per-call timeout of short calls; default 30 s. Waits and log reads have none unless given. */
  readonly requestTimeoutMs?: number | undefined
}

/** An image imported from a tar stream: its name, tag and Dockerfile changes. */
export interface ImportOptions {
  readonly repo: string
  readonly tag: string
  /** Dockerfile instructions applied to the image (`CMD ["/bin/sh"]`, `ENV A=b`). */
  readonly changes?: ReadonlyArray<string>
}

/** The Docker Engine API calls the provisioner and the tests use (containers, images, logs). */
export class DockerEngine extends Context.Service<DockerEngine, {
  readonly host: DockerApi.Host
  readonly ping: Effect.Effect<void, DockerEngineError>
  readonly version: Effect.Effect<typeof DockerApi.Version.Type, DockerEngineError>
  readonly info: Effect.Effect<typeof DockerApi.Info.Type, DockerEngineError>
  readonly createContainer: (
    name: string | undefined,
    body: DockerApi.CreateContainerRequest
  ) => Effect.Effect<typeof DockerApi.CreateResponse.Type, DockerEngineError>
  /** Already running is fine. */
  readonly startContainer: (id: string) => Effect.Effect<void, DockerEngineError>
  /** `None` when there is no such container. */
  readonly inspectContainer: (id: string) => Effect.Effect<Option.Option<DockerApi.ContainerInspect>, DockerEngineError>
  /** All containers (running or not) matching `filters` (`{ label: ["porter=1"] }`). */
  readonly listContainers: (
    filters: Readonly<Record<string, ReadonlyArray<string>>>
  ) => Effect.Effect<ReadonlyArray<DockerApi.ContainerSummary>, DockerEngineError>
  /** Stop signal, then SIGKILL after `timeoutSeconds`. */
  readonly stopContainer: (
    id: string,
    timeoutSeconds: number
  ) => Effect.Effect<"stopped" | "not_running" | "gone", DockerEngineError>
  readonly killContainer: (
    id: string,
    signal?: string
  ) => Effect.Effect<"killed" | "not_running" | "gone", DockerEngineError>
  /** `gone` when there was nothing to remove, or its removal was already under way. */
  readonly removeContainer: (
    id: string,
    options?: { readonly force?: boolean }
  ) => Effect.Effect<"removed" | "gone", DockerEngineError>
  /** Blocks until the condition; `None` when there is no such container. */
  readonly waitContainer: (
    id: string,
    condition?: "not-running" | "next-exit" | "removed",
    timeoutMs?: number
  ) => Effect.Effect<Option.Option<typeof DockerApi.WaitResponse.Type>, DockerEngineError>
  /** stdout and stderr as stored by the daemon (framed; see `DockerApi.logLines`); `None` for no such container. */
  readonly containerLogs: (
    id: string,
    options?: { readonly tail?: number }
  ) => Effect.Effect<Option.Option<Uint8Array>, DockerEngineError>
  readonly imageExists: (name: string) => Effect.Effect<boolean, DockerEngineError>
  /** `POST /images/create?fromSrc=-`: a root filesystem tarball becomes `repo:tag` (what `docker import` does). */
  readonly importImage: (tarball: Uint8Array, options: ImportOptions) => Effect.Effect<void, DockerEngineError>
}>()("@porter/docker/DockerEngine") {}

const decodeError = Schema.decodeUnknownOption(Schema.fromJsonString(DockerApi.ErrorResponse))

const segment = (id: string) => encodeURIComponent(id)

/** The client over a given `HttpClient`. */
export const make = (
  options: EngineOptions = {}
): Effect.Effect<DockerEngine["Service"], never, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const hostText = options.host ?? DockerApi.DEFAULT_HOST
    const host = DockerApi.parseHost(hostText) ?? { _tag: "Http", baseUrl: "http://invalid", display: hostText }
    const baseUrl = host._tag === "Unix" ? "http://localhost" : host.baseUrl
    const timeoutMs = options.requestTimeoutMs ?? 30_000
    const client = (yield* HttpClient.HttpClient).pipe(HttpClient.mapRequest(HttpClientRequest.prependUrl(baseUrl)))

    const failure = (op: string, fields: Omit<ConstructorParameters<typeof DockerEngineError>[0], "op" | "host">) =>
      new DockerEngineError({ op, host: host.display, ...fields })

    /** Sends a request; any status comes back as a response, failures as `DockerEngineError`. */
    const send = (op: string, request: HttpClientRequest.HttpClientRequest, timeout: number | undefined = timeoutMs) =>
      client.execute(request).pipe(
        timeout === undefined ? (effect) => effect : Effect.timeout(timeout),
        Effect.catch((error) => {
          if (Cause.isTimeoutError(error)) {
            return Effect.fail(
              failure(op, { kind: "timeout", detail: `no answer within ${Math.round((timeout ?? 0) / 1000)}s` })
            )
          }
          if (HttpClientError.isHttpClientError(error) && error.reason._tag === "TransportError") {
            return Effect.fail(
              failure(op, {
                kind: "transport",
                code: errnoOf(error.reason.cause),
                detail: describe(error.reason.cause)
              })
            )
          }
          return Effect.fail(failure(op, { kind: "transport", code: errnoOf(error), detail: describe(error) }))
        })
      )

    const statusError = (op: string, response: HttpClientResponse.HttpClientResponse) =>
      Effect.gen(function*() {
        const text = yield* Effect.orElseSucceed(response.text, () => "")
        const body = decodeError(text)
        const engineMessage = Option.isSome(body) ? body.value.message : text.trim().slice(0, 500) || undefined
        return failure(op, { kind: "status", status: response.status, engineMessage })
      })

    const decode = <A>(op: string, schema: Schema.Codec<A, unknown>, response: HttpClientResponse.HttpClientResponse) =>
      response.json.pipe(
        Effect.flatMap(Schema.decodeUnknownEffect(schema)),
        // Short: a decoding error quotes the value it failed on.
        Effect.mapError((error) => failure(op, { kind: "malformed", detail: describe(error).slice(0, 300) }))
      )

    const expect = <A>(
      op: string,
      response: HttpClientResponse.HttpClientResponse,
      answers: Readonly<Record<number, A>>,
      ok: (response: HttpClientResponse.HttpClientResponse) => Effect.Effect<A, DockerEngineError>
    ): Effect.Effect<A, DockerEngineError> => {
      if (response.status in answers) return Effect.as(Effect.ignore(response.text), answers[response.status]!)
      if (response.status >= 200 && response.status < 300) return ok(response)
      return Effect.flatMap(statusError(op, response), Effect.fail)
    }

    const drain = (response: HttpClientResponse.HttpClientResponse) => Effect.ignore(response.text)

    const ping = Effect.gen(function*() {
      const response = yield* send("ping", HttpClientRequest.get("/_ping"))
      yield* expect("ping", response, {}, drain)
    })

    const version = Effect.flatMap(
      send("version", HttpClientRequest.get("/version")),
      (response) => expect("version", response, {}, (r) => decode("version", DockerApi.Version, r))
    )

    const info = Effect.flatMap(
      send("info", HttpClientRequest.get("/info")),
      (response) => expect("info", response, {}, (r) => decode("info", DockerApi.Info, r))
    )

    const createContainer = (name: string | undefined, body: DockerApi.CreateContainerRequest) =>
      Effect.gen(function*() {
        const op = "create container"
        const request = HttpClientRequest.post("/containers/create").pipe(
          name === undefined ? (r) => r : HttpClientRequest.setUrlParam("name", name),
          HttpClientRequest.bodyJsonUnsafe(body)
        )
        const response = yield* send(op, request)
        return yield* expect(op, response, {}, (r) => decode(op, DockerApi.CreateResponse, r))
      })

    const startContainer = (id: string) =>
      Effect.gen(function*() {
        const op = "start container"
        const response = yield* send(op, HttpClientRequest.post(`/containers/${segment(id)}/start`))
        yield* expect(op, response, { 304: undefined }, drain)
      })

    const inspectContainer = (id: string) =>
      Effect.gen(function*() {
        const op = "inspect container"
        const response = yield* send(op, HttpClientRequest.get(`/containers/${segment(id)}/json`))
        return yield* expect(
          op,
          response,
          { 404: Option.none<DockerApi.ContainerInspect>() },
          (r) => Effect.map(decode(op, DockerApi.ContainerInspect, r), Option.some)
        )
      })

    const listContainers = (filters: Readonly<Record<string, ReadonlyArray<string>>>) =>
      Effect.gen(function*() {
        const op = "list containers"
        const request = HttpClientRequest.get("/containers/json").pipe(
          HttpClientRequest.setUrlParams({ all: "true", filters: JSON.stringify(filters) })
        )
        const response = yield* send(op, request)
        return yield* expect(op, response, {}, (r) => decode(op, DockerApi.ContainerList, r))
      })

    const stopContainer = (id: string, timeoutSeconds: number) =>
      Effect.gen(function*() {
        const op = "stop container"
        const request = HttpClientRequest.post(`/containers/${segment(id)}/stop`).pipe(
          HttpClientRequest.setUrlParam("t", String(Math.max(0, Math.round(timeoutSeconds))))
        )
        // The daemon answers once the container stopped: allow for its grace period.
        const response = yield* send(op, request, timeoutMs + timeoutSeconds * 1000)
        return yield* expect(
          op,
          response,
          { 304: "not_running" as const, 404: "gone" as const },
          (r) => Effect.as(drain(r), "stopped" as const)
        )
      })

    const killContainer = (id: string, signal = "SIGKILL") =>
      Effect.gen(function*() {
        const op = "kill container"
        const request = HttpClientRequest.post(`/containers/${segment(id)}/kill`).pipe(
          HttpClientRequest.setUrlParam("signal", signal)
        )
        const response = yield* send(op, request)
        // 409: not running.
        return yield* expect(
          op,
          response,
          { 404: "gone" as const, 409: "not_running" as const },
          (r) => Effect.as(drain(r), "killed" as const)
        )
      })

    const removeContainer = (id: string, removeOptions?: { readonly force?: boolean }) =>
      Effect.gen(function*() {
        const op = "remove container"
        const request = HttpClientRequest.delete(`/containers/${segment(id)}`).pipe(
          HttpClientRequest.setUrlParams({ force: String(removeOptions?.force ?? true), v: "true" })
        )
        const response = yield* send(op, request)
        if (response.status === 409) {
          // Removal already in progress (auto-remove, another caller) is what was asked for.
          const error = yield* statusError(op, response)
          if (/already in progress|is being removed|marked for removal/i.test(error.engineMessage ?? "")) {
            return "gone" as const
          }
          return yield* error
        }
        return yield* expect(op, response, { 404: "gone" as const }, (r) => Effect.as(drain(r), "removed" as const))
      })

    const waitContainer = (
      id: string,
      condition: "not-running" | "next-exit" | "removed" = "not-running",
      waitTimeoutMs?: number
    ) =>
      Effect.gen(function*() {
        const op = "wait for container"
        const request = HttpClientRequest.post(`/containers/${segment(id)}/wait`).pipe(
          HttpClientRequest.setUrlParam("condition", condition)
        )
        const response = yield* send(op, request, waitTimeoutMs)
        return yield* expect(
          op,
          response,
          { 404: Option.none<typeof DockerApi.WaitResponse.Type>() },
          (r) => Effect.map(decode(op, DockerApi.WaitResponse, r), Option.some)
        )
      })

    const containerLogs = (id: string, logOptions?: { readonly tail?: number }) =>
      Effect.gen(function*() {
        const op = "read container logs"
        const request = HttpClientRequest.get(`/containers/${segment(id)}/logs`).pipe(
          HttpClientRequest.setUrlParams({
            stdout: "true",
            stderr: "true",
            tail: logOptions?.tail === undefined ? "all" : String(logOptions.tail)
          })
        )
        const response = yield* send(op, request)
        return yield* expect(op, response, { 404: Option.none<Uint8Array>() }, (r) =>
          r.arrayBuffer.pipe(
            Effect.map((buffer) => Option.some(new Uint8Array(buffer))),
            Effect.mapError((error) => failure(op, { kind: "malformed", detail: describe(error) }))
          ))
      })

    const imageExists = (name: string) =>
      Effect.gen(function*() {
        const op = "inspect image"
        const response = yield* send(op, HttpClientRequest.get(`/images/${segment(name)}/json`))
        return yield* expect(op, response, { 404: false }, (r) => Effect.as(drain(r), true))
      })

    const importImage = (tarball: Uint8Array, importOptions: ImportOptions) =>
      Effect.gen(function*() {
        const op = "import image"
        const params: Array<[string, string]> = [["fromSrc", "-"], ["repo", importOptions.repo], [
          "tag",
          importOptions.tag
        ]]
        for (const change of importOptions.changes ?? []) {
          params.push(["changes", change])
        }
        const request = HttpClientRequest.post("/images/create").pipe(
          HttpClientRequest.setUrlParams(params),
          HttpClientRequest.bodyUint8Array(tarball, "application/x-tar")
        )
        const response = yield* send(op, request, timeoutMs * 4)
        const text = yield* expect(op, response, {}, (r) => Effect.orElseSucceed(r.text, () => ""))
        // Progress lines; a failure midway is reported in one of them.
        const failed = /"error"\s*:\s*"([^"]*)"/.exec(text ?? "")
        if (failed) return yield* failure(op, { kind: "status", status: response.status, engineMessage: failed[1] })
      })

    return DockerEngine.of({
      host,
      ping,
      version,
      info,
      createContainer,
      startContainer,
      inspectContainer,
      listContainers,
      stopContainer,
      killContainer,
      removeContainer,
      waitContainer,
      containerLogs,
      imageExists,
      importImage
    })
  })

/** Any `HttpClient` (e.g. fetch) against a `tcp://`/`http://` daemon; a unix socket needs `layer`. */
export const layerHttpClient = (options: EngineOptions = {}): Layer.Layer<DockerEngine, never, HttpClient.HttpClient> =>
  Layer.effect(DockerEngine, make(options))

/** Node: HTTP over the daemon's unix socket (`node:http` with `socketPath`), or over TCP. */
export const layer = (options: EngineOptions = {}): Layer.Layer<DockerEngine, InvalidDockerHost> =>
  Layer.unwrap(Effect.gen(function*() {
    const text = options.host === undefined || options.host.trim() === "" ? DockerApi.DEFAULT_HOST : options.host
    const host = DockerApi.parseHost(text)
    if (host === undefined) return yield* new InvalidDockerHost({ host: text })
    return layerHttpClient({ ...options, host: text }).pipe(
      Layer.provide(
        host._tag === "Unix"
          ? NodeHttpClient.layerNodeHttpOptions({ socketPath: host.socketPath })
          : NodeHttpClient.layerNodeHttp
      )
    )
  }))

/** `DOCKER_HOST` (default the unix socket). */
export const config: Config.Config<EngineOptions> = Config.all({
  host: Config.String("DOCKER_HOST").pipe(Config.withDefault(DockerApi.DEFAULT_HOST))
})

/** `DockerEngine` from configuration (`DOCKER_HOST`). */
export const layerConfig: Layer.Layer<DockerEngine, Config.ConfigError | InvalidDockerHost> = Layer.unwrap(
  Effect.map(config, layer)
)

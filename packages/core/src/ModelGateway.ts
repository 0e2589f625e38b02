/**
 * ModelGateway: a machine's model calls, passed through to the provider with the real key attached — the key never
 * reaches the machine. The agent's CLI is pointed at `<publicUrl>/gateway/tasks/<id>/<provider>` and presents the
 * task's gateway credential where it would present its key (`Providers`); Porter checks it and the task's budgets
 * (`GatewayAccess`), attaches the key its chain resolves to, and streams the answer back chunk by chunk as it comes
 * (never buffered), metering it on the way (`Metering`: the final usage events, read once the answer ends). The cost
 * is recorded after the answer, in the background (`Background`), never in its way.
 *
 * Answers: the provider's own, status and body, with its retry advice (`Retry-After`, …); Porter's refusals in the
 * provider's error format — 401 wrong credential, 403 task ended / past its deadline / budget reached / no key, 404 a
 * path the gateway does not serve, 413 a body over `gateway.maxRequestBytes` (32 MiB), 502 the provider unreachable,
 * 503 Porter's storage unavailable. An upstream error's body is scrubbed of the key before it is passed on. Request
 * and answer bodies are never logged.
 *
 * One amendment: a streamed Chat Completions request that does not ask for usage gets
 * `stream_options.include_usage` (an extra last chunk with empty `choices`, as OpenAI documents it), so it is metered
 * exactly rather than estimated. Redirects are not followed (the key must not travel to another host).
 *
 * A body Porter leaves as it is goes upstream as it arrives where the host can pipe it (`pipeableBytes`: the Worker
 * and the Node route), so a large conversation is neither held in memory nor sent only once it is all in; others are
 * read first, within the limit.
 */
import { Clock, Context, Effect, Layer, Option, Redacted, Result, Stream } from "effect"
import { FetchHttpClient, HttpClient, HttpClientRequest, HttpClientResponse } from "effect/http"
import { Background } from "./Background.ts"
import { GatewayAccess, GatewayRefused, type Grant } from "./GatewayAccess.ts"
import { metered, pipeableBytesOf, readAtMost, readsBody, withUsageRequested } from "./GatewayBodies.ts"
import type { TaskId } from "./Ids.ts"
import * as Metering from "./Metering.ts"
import type { Provider } from "./ModelUsage.ts"
import { PorterConfig } from "./PorterConfig.ts"
import * as Providers from "./Providers.ts"

export { joinedAtMost, metered, pipeableBytesOf, readsBody, withUsageRequested } from "./GatewayBodies.ts"

/** One call as the machine sent it. */
export interface GatewayRequest {
  readonly taskId: string
  readonly provider: Provider
  readonly method: string
  /** The path after `/gateway/tasks/:id/<provider>/`, without a leading slash. */
  readonly rest: string
  /** The query string, `?…` or empty. */
  readonly search: string
  readonly headers: Readonly<Record<string, string | undefined>>
  /** Reads the body, at most `limit` bytes (`too_large` past it). */
  readonly body: (limit: number) => Effect.Effect<Uint8Array, GatewayRefused>
  /**
   * The body's declared length (`Content-Length`, as `pipeableBytesOf` gives it), when the host can send the body
   * upstream as it arrives: the call is then admitted with `pipe` set, its body unread, and the host pipes it.
   * Absent: the body is read first (`body`).
   */
  readonly pipeableBytes?: number | undefined
}

/**
 * The answer, streamed: also as a Web `ReadableStream` when the upstream client gave one (fetch), which a Web host
 * returns as it is (no per-chunk work but the meter's); `body` is the same as an Effect stream, for other hosts.
 */
export interface GatewayAnswer {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: Stream.Stream<Uint8Array, unknown>
  readonly web?: ReadableStream<Uint8Array> | undefined
  /** The whole body, when it is known at once (Porter's refusals, the provider's errors). */
  readonly bytes?: Uint8Array | undefined
}

/**
 * A machine's model calls, passed through to the provider with the real key attached — the key never reaches the
 * machine.
 */
export class ModelGateway extends Context.Service<ModelGateway, {
  /** Passes one call through, or refuses it in the provider's format. Never fails. */
  readonly forward: (request: GatewayRequest) => Effect.Effect<GatewayAnswer>
  /**
   * Admits one call and prepares it for a host's own transport (`Admitted`), or refuses it (the answer). For hosts
   * that send it upstream natively (the Worker's `fetch`, Node's `node:http`): `forward` is this, Effect's
   * `HttpClient` and the same hooks. Never fails.
   */
  readonly admit: (request: GatewayRequest) => Effect.Effect<Admitted | GatewayAnswer>
  /**
   * `admit`'s outcome at once, without running an effect, when it needs nothing it does not hold: the task's
   * credential verified and its grant kept (`GatewayAccess.admitNow`), the body piped or none. `context`: what
   * `admit` would run in (its `Clock`, and the background the meter stores the call with). `undefined`: call
   * `admit`. What a busy agent's calls take, so hosts try it first.
   */
  readonly admitNow: (request: GatewayRequest, context: Context.Context<never>) => Admitted | GatewayAnswer | undefined
}>()("@porter/core/ModelGateway") {}

/**
 * One call admitted, ready to go upstream: what to send, and how to answer with what comes back. Whoever sends it
 * follows redirects never, reads a non-2xx answer's body up to `ERROR_BODY_BYTES` for `refusedBy`, and for a 2xx
 * answer passes each chunk to the meter (`meter()`, metered calls only) and ends it once, when the answer ends, fails
 * or the client goes away — which must cancel the upstream call.
 */
export interface Admitted {
  readonly _tag: "Admitted"
  readonly method: string
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: Uint8Array | undefined
  /** The client's body is this long and the host sends it upstream as it arrives (`body` is undefined then). */
  readonly pipe: number | undefined
  /** The upstream answer's headers as the client gets them. */
  readonly answerHeaders: (headers: Readonly<Record<string, string | undefined>>) => Record<string, string>
  /** A non-2xx answer as the client gets it: 3xx → 502 (redirects are not followed), the body scrubbed of the key. */
  readonly refusedBy: (status: number, body: Uint8Array) => { readonly status: number; readonly body: Uint8Array }
  /** The provider could not be reached (`error` logged, scrubbed of the key): the 502 in its format. */
  readonly unreachable: (error: unknown) => Effect.Effect<GatewayAnswer>
  /**
   * For a 2xx answer: its meter, when the call is metered. `end` counts the call at once (the task's next call is
   * checked against it) and stores it in the background. A plain function: it runs as the answer's headers arrive.
   */
  readonly meter: () => AnswerMeter | undefined
}

/** Reads a 2xx answer as it passes (`Metering`); `end` once. */
export interface AnswerMeter {
  readonly push: (chunk: Uint8Array) => void
  readonly end: () => void
}

/** Whether `admit` refused the call (then it is the answer). */
export const isAdmitted = (outcome: Admitted | GatewayAnswer): outcome is Admitted =>
  (outcome as Partial<Admitted>)._tag === "Admitted"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** A refusal as the provider would word it. */
export const refusalAnswer = (provider: Provider, refusal: GatewayRefused): GatewayAnswer => {
  const bytes = encoder.encode(JSON.stringify(Providers.errorBody(provider, refusal.refusal, refusal.message)))
  return {
    status: Providers.statusOf(refusal.refusal),
    headers: { "content-type": "application/json" },
    body: Stream.succeed(bytes),
    bytes
  }
}

/** Upstream error bodies are read up to this much (and scrubbed of the key). */
export const ERROR_BODY_BYTES = 64 * 1024

const hostOf = (url: string): string | undefined => {
  try {
    const parsed = new URL(url)
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.host : undefined
  } catch {
    return undefined
  }
}

/** The `ModelGateway` service, built from its dependencies in the context. */
export const make = Effect.gen(function*() {
  const access = yield* GatewayAccess
  const background = yield* Background
  const config = yield* PorterConfig
  const client = yield* HttpClient.HttpClient
  const limit = config.gateway.maxRequestBytes

  /** The provider's route for the call, or the 404. */
  const routeOf = (request: GatewayRequest): Providers.Route | GatewayRefused => {
    const route = Providers.route(request.provider, request.method, request.rest)
    if (route !== undefined) return route
    return new GatewayRefused({
      refusal: "not_found",
      message: `the gateway serves no ${request.method} /${request.rest.slice(0, 200)} for ${
        Providers.specOf(request.provider).displayName
      }`
    })
  }

  const queryOf = (request: GatewayRequest) =>
    request.search.length > 1 ? new URLSearchParams(request.search) : undefined

  /** The body piped upstream as it arrives (its declared length), when the host offers it and Porter may. */
  const pipeOf = (request: GatewayRequest) =>
    request.pipeableBytes === undefined ? undefined : pipeableBytesOf(request, String(request.pipeableBytes), limit)

  /** Where an admitted call goes and with which key: the provider's URL for it, the key the task's chain gives. */
  const targetOf = (
    request: GatewayRequest,
    route: Providers.Route,
    grant: Grant,
    query: URLSearchParams | undefined
  ): Target | GatewayRefused => {
    const spec = Providers.specOf(request.provider)
    const keyName = spec.keyNames.find((name) => grant.keys.has(name))
    if (keyName === undefined) {
      return new GatewayRefused({
        refusal: "no_key",
        message: `no ${spec.keyNames.join(" or ")} is set for this task's user, repository, installation or ` +
          `deployment: set one (porter secrets set ${spec.keyNames[0]} --scope repository:${grant.task.repo.fullName})`
      })
    }
    const key = Redacted.value(grant.keys.get(keyName)!.value)
    const stored = grant.keys.get(spec.upstreamSecret)
    const base = stored !== undefined ? Redacted.value(stored.value).trim() : config.gateway.upstreams[request.provider]
    const host = hostOf(base)
    if (host === undefined) {
      return new GatewayRefused({
        refusal: "unreachable",
        message: `the ${spec.displayName} API URL configured for this task is not an http(s) URL`
      })
    }
    query?.delete("key")
    const search = query !== undefined && query.size > 0 ? `?${query.toString()}` : ""
    return { keyName, key, host, url: `${base.replace(/\/+$/, "")}${route.upstreamPath}${search}` }
  }

  /** The call as it goes upstream: to `target`, with the body read already (`read`) or piped, metered. */
  const admitted = (
    request: GatewayRequest,
    route: Providers.Route,
    grant: Grant,
    { host, key, keyName, url }: Target,
    { pipe, read }: { readonly read: Uint8Array | undefined; readonly pipe: number | undefined },
    context: Context.Context<never>
  ): Admitted => {
    const spec = Providers.specOf(request.provider)
    const body = read !== undefined && route.metered && readsBody(request.provider, request.rest)
      ? withUsageRequested(read)
      : read
    const requestBytes = body?.byteLength ?? pipe ?? 0
    // As the answer ends (cut short too): counted at once, so the task's next call is checked against it; stored
    // after the answer, in the background (the request's context: a Worker's `waitUntil`).
    const meter = (): AnswerMeter | undefined => {
      if (!route.metered) return undefined
      const meter = Metering.make(request.provider, { requestBytes, model: route.model })
      access.begin(grant.task.id as TaskId)
      let done = false
      return {
        push: meter.push,
        end: () => {
          if (done) return
          done = true
          // Stored once the host has sent the answer's last bytes (`yieldNow`): the client is not kept waiting.
          Effect.runForkWith(context)(
            Effect.suspend(() => access.count(grant, request.provider, meter.finish())).pipe(
              Effect.flatMap((call) => background.run(Effect.andThen(Effect.yieldNow, access.record(grant, call))))
            )
          )
        }
      }
    }
    return {
      _tag: "Admitted",
      method: request.method,
      url,
      headers: Providers.upstreamHeaders(request.provider, request.headers, { name: keyName, value: key }),
      body,
      pipe,
      answerHeaders: Providers.responseHeaders,
      refusedBy: (status, raw) => {
        const text = key.length >= 8 ? decoder.decode(raw) : ""
        const scrubbed = key.length >= 8 && text.includes(key)
          ? encoder.encode(text.split(key).join("[redacted]"))
          : raw
        return { status: status >= 300 && status < 400 ? 502 : status, body: scrubbed }
      },
      unreachable: (error) =>
        Effect.as(
          Effect.logWarning("the model API could not be reached", {
            provider: request.provider,
            host,
            error: String(error instanceof Error ? error.message : error).slice(0, 300).split(key).join("[redacted]")
          }),
          refusalAnswer(
            request.provider,
            new GatewayRefused({
              refusal: "unreachable",
              message: `the ${spec.displayName} API (${host}) could not be reached; try again later`
            })
          )
        ),
      meter
    } satisfies Admitted
  }

  const prepare = Effect.fnUntraced(function*(request: GatewayRequest) {
    const route = routeOf(request)
    if (route instanceof GatewayRefused) return yield* route
    const query = queryOf(request)
    const grant = yield* access.admit(request.taskId, Providers.presented(request.headers, query ?? emptyQuery))
    const target = targetOf(request, route, grant, query)
    if (target instanceof GatewayRefused) return yield* target
    const pipe = pipeOf(request)
    const read = request.method === "POST" && pipe === undefined ? yield* request.body(limit) : undefined
    return admitted(request, route, grant, target, { read, pipe }, yield* Effect.context<never>())
  })

  const admit = (request: GatewayRequest): Effect.Effect<Admitted | GatewayAnswer> =>
    prepare(request).pipe(
      Effect.catchTag("GatewayRefused", (refusal) => Effect.succeed(refusalAnswer(request.provider, refusal)))
    )

  // `admit` without an effect, when nothing is to be read or verified (`GatewayAccess.admitNow`) and no body waited for.
  const admitNow = (request: GatewayRequest, context: Context.Context<never>): Admitted | GatewayAnswer | undefined => {
    const pipe = pipeOf(request)
    if (request.method === "POST" && pipe === undefined) return undefined
    const route = routeOf(request)
    if (route instanceof GatewayRefused) return refusalAnswer(request.provider, route)
    const query = queryOf(request)
    const presented = Providers.presented(request.headers, query ?? emptyQuery)
    const grant = access.admitNow(
      request.taskId,
      presented,
      Context.get(context, Clock.Clock).currentTimeMillisUnsafe()
    )
    if (grant === undefined) return undefined
    if (grant instanceof GatewayRefused) return refusalAnswer(request.provider, grant)
    const target = targetOf(request, route, grant, query)
    if (target instanceof GatewayRefused) return refusalAnswer(request.provider, target)
    return admitted(request, route, grant, target, { read: undefined, pipe }, context)
  }

  /** Sends an admitted call with Effect's `HttpClient` (any platform). */
  const send = Effect.fnUntraced(function*(call: Admitted) {
    const outgoing = call.body === undefined
      ? HttpClientRequest.make(call.method as "GET")(call.url, { headers: call.headers })
      : HttpClientRequest.make("POST")(call.url, { headers: call.headers }).pipe(
        HttpClientRequest.bodyUint8Array(call.body, call.headers["content-type"] ?? "application/json")
      )
    const result = yield* Effect.result(
      client.execute(outgoing).pipe(Effect.provideService(FetchHttpClient.RequestInit, { redirect: "manual" }))
    )
    if (Result.isFailure(result)) return yield* call.unreachable(result.failure)
    const response = result.success
    const answerHeaders = call.answerHeaders(response.headers)
    if (response.status < 200 || response.status >= 300) {
      // The provider's own refusal (429 with its Retry-After, 5xx, 4xx), passed on without the key in it.
      const refused = call.refusedBy(response.status, yield* readAtMost(response.stream, ERROR_BODY_BYTES))
      return {
        status: refused.status,
        headers: answerHeaders,
        body: Stream.succeed(refused.body),
        bytes: refused.body
      } satisfies GatewayAnswer
    }
    const web = Option.getOrUndefined(HttpClientResponse.toWeb(response))?.body ?? undefined
    const meter = call.meter()
    if (meter === undefined) {
      return { status: response.status, headers: answerHeaders, body: response.stream, web } satisfies GatewayAnswer
    }
    if (web !== undefined) {
      const stream = metered(web, meter.push, meter.end)
      return {
        status: response.status,
        headers: answerHeaders,
        body: Stream.fromReadableStream({ evaluate: () => stream, onError: (error) => error }),
        web: stream
      } satisfies GatewayAnswer
    }
    const stream = response.stream.pipe(
      Stream.mapArray((chunks) => {
        for (const chunk of chunks) meter.push(chunk)
        return chunks
      }),
      Stream.onExit(() => Effect.sync(meter.end))
    )
    return { status: response.status, headers: answerHeaders, body: stream } satisfies GatewayAnswer
  })

  // Effect's client is given the body read first (no `pipeableBytes`).
  const forward = (request: GatewayRequest): Effect.Effect<GatewayAnswer> =>
    Effect.flatMap(
      admit({ ...request, pipeableBytes: undefined }),
      (outcome) => isAdmitted(outcome) ? send(outcome) : Effect.succeed(outcome)
    )

  return ModelGateway.of({ forward, admit, admitNow })
})

const emptyQuery = new URLSearchParams()

/** Where an admitted call goes, and with which key. */
interface Target {
  readonly keyName: string
  readonly key: string
  readonly host: string
  readonly url: string
}

/** `ModelGateway` as a layer (`make`). */
export const layer: Layer.Layer<
  ModelGateway,
  never,
  GatewayAccess | Background | PorterConfig | HttpClient.HttpClient
> = Layer.effect(ModelGateway, make)

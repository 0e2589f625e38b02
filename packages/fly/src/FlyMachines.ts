/**
 * `MachineProvisioner` over the Fly Machines REST API (`effect/http` HttpClient): one auto-destroying machine per
 * task, tagged with metadata `porter: "1"` and `porter_task_id`, so `findByTask` and `list` need no database.
 * Extras on the `FlyMachines` service: `waitFor` (the API's wait endpoint) and `stop`. Creating the Fly app is a
 * separate, explicit step (`FlyApps.ensureApp`), never done here.
 *
 * Credentials: the token comes per call (`spec.credential` / `options.credential`, resolved by the orchestration
 * from the `SecretStore` under `FLY_API_TOKEN`), else the deploy-wide token of this layer. It is sent as the
 * `Authorization` header and never logged or put in an error; neither are the values of a create's secret
 * environment, should Fly's error text quote them.
 *
 * What it cannot do:
 * - enforce `spec.deadlineAt`: Fly machines have no maximum lifetime, so overdue machines are left to the
 *   watchdog (the runner also gets `TASK_DEADLINE`);
 * - keep the secret environment from holders of the Fly token: Fly stores `config.env` and shows it in its API.
 *   Porter never reads it back (responses are decoded without `env`).
 */
import { Errors, Ids, MachineProvisioner, PorterConfig } from "@porter/core"
import { Clock, Config, Context, Effect, Layer, Option, Redacted, Schema } from "effect"
import { HttpClient, HttpClientRequest, HttpClientResponse } from "effect/http"
import * as FlyApi from "./FlyApi.ts"
import * as FlyHttp from "./FlyHttp.ts"

/** The Fly provisioner's options: app, token, API URL, image, region, retries and request timeout. */
export interface FlyOptions {
  /** The Fly app machines are created in (`FLY_APP_NAME`). */
  readonly app: string
  /** Deploy-wide token (`FLY_API_TOKEN`), used when a call brings no credential of its own. */
  readonly token?: Redacted.Redacted<string> | undefined
  /** Machines API base (`FLY_API_URL`); default `https://api.machines.dev/v1`. */
  readonly apiUrl?: string | undefined
  /** Runner image when the spec names none (`PORTER_MACHINE_IMAGE`); use a versioned tag, never `latest`. */
  readonly image?: string | undefined
  /** Region when the spec names none (`FLY_REGION`); Fly picks one when both are unset. */
  readonly region?: string | undefined
  readonly retry?: Partial<FlyHttp.RetryPolicy> | undefined
  /** Per-attempt timeout of a call; default 30 s. */
  readonly requestTimeoutMs?: number | undefined
}

/** How long `waitFor` waits for a state. */
export interface WaitOptions extends MachineProvisioner.CallOptions {
  /** Total time to wait; default 60 s. Longer waits are several calls (Fly caps one at 60 s). */
  readonly timeoutMs?: number
}

/** How `stop` stops a machine: the signal and the time before Fly kills it. */
export interface StopOptions extends MachineProvisioner.CallOptions {
  readonly signal?: FlyApi.StopSignal
  /** Time Fly gives the process after the signal before it kills it. */
  readonly timeoutMs?: number
}

/** The machine did not reach the state in time. */
export class FlyWaitTimeout extends Schema.TaggedError<FlyWaitTimeout>()("FlyWaitTimeout", {
  machineId: Schema.String,
  state: Schema.String,
  timeoutMs: Schema.Number
}) {
  override get message(): string {
    return `machine ${this.machineId} did not become ${this.state} within ${Math.round(this.timeoutMs / 1000)}s`
  }
}

type Provisioner = MachineProvisioner.MachineProvisioner["Service"]

/** The Fly provisioner, with Fly-only extras. Its layer provides `MachineProvisioner` too. */
export class FlyMachines extends Context.Service<
  FlyMachines,
  Provisioner & {
    readonly app: string
    readonly apiUrl: string
    /** Blocks until the machine is in `state` (a gone machine counts as `destroyed`). */
    readonly waitFor: (
      id: Ids.MachineId,
      state: FlyApi.WaitState,
      options?: WaitOptions
    ) => Effect.Effect<MachineProvisioner.Machine, Errors.ProvisionError | Errors.MachineNotFound | FlyWaitTimeout>
    /** Asks the machine's process to exit (with `auto_destroy`, Fly then destroys the machine). */
    readonly stop: (
      id: Ids.MachineId,
      options?: StopOptions
    ) => Effect.Effect<void, Errors.ProvisionError | Errors.MachineNotFound>
  }
>()("@porter/fly/FlyMachines") {}

/** The secret holding a per-owner Fly token (machines then run in that account). */
export const CREDENTIAL_NAME = "FLY_API_TOKEN"

/** Fly's states, onto core's: transient and terminal extras map to their nearest. */
export const toMachineState = (state: string): MachineProvisioner.MachineState => {
  switch (state) {
    case "created":
    case "starting":
    case "started":
    case "stopping":
    case "stopped":
    case "suspended":
    case "replacing":
    case "destroying":
    case "destroyed":
    case "failed":
      return state
    case "creating":
      return "created"
    case "restarting":
    case "updating":
      return "starting"
    case "suspending":
      return "stopping"
    case "launch_failed":
      return "failed"
    case "replaced":
    case "migrated":
      return "destroyed"
    default:
      // An unknown state of a machine that exists: treat it as running rather than lose track of it.
      return "started"
  }
}

/** A Fly machine as Porter's `Machine`: its id, state, task and creation time. */
export const toMachine = (machine: FlyApi.Machine): MachineProvisioner.Machine => {
  const taskId = machine.config?.metadata?.[FlyApi.METADATA_TASK_ID]
  const createdAt = machine.created_at ? Date.parse(machine.created_at) : Number.NaN
  return new MachineProvisioner.Machine({
    id: machine.id as Ids.MachineId,
    state: toMachineState(machine.state),
    ...(taskId ? { taskId } : {}),
    ...(machine.region ? { region: machine.region } : {}),
    ...(Number.isFinite(createdAt) ? { createdAt } : {})
  })
}

const isPorters = (machine: FlyApi.Machine) => machine.config?.metadata?.[FlyApi.METADATA_PORTER] === "1"

/**
 * A task's machine that may still do its work: not gone, and not `failed` (a launch that failed never runs). The
 * orchestration dispatches a stuck task again only after finding its machine failed; handing that same machine back
 * would spend every attempt on it. Failed machines stay in `list`, so the orphan sweep still destroys them.
 */
const mayRun = (machine: FlyApi.Machine) => toMachineState(machine.state) !== "failed"

/** The request body of a create; secret values are unwrapped here and nowhere else. */
export const createRequest = (
  spec: MachineProvisioner.MachineSpec,
  defaults: { readonly image: string; readonly region?: string | undefined },
  createId?: string
): FlyApi.CreateMachineRequest => {
  const env: Record<string, string> = { ...spec.env }
  for (const [name, value] of Object.entries(spec.secretEnv)) env[name] = Redacted.value(value)
  const region = spec.region ?? defaults.region
  return {
    config: {
      image: spec.image ?? defaults.image,
      env,
      guest: { cpu_kind: spec.guest.cpuKind, cpus: spec.guest.cpus, memory_mb: spec.guest.memoryMb },
      auto_destroy: true,
      restart: { policy: "no" },
      metadata: {
        [FlyApi.METADATA_PORTER]: "1",
        [FlyApi.METADATA_TASK_ID]: spec.taskId,
        ...(createId !== undefined ? { [FlyApi.METADATA_CREATE_ID]: createId } : {})
      }
    },
    ...(region !== undefined && region !== "" ? { region } : {})
  }
}

const seconds = (ms: number) => `${Math.max(0, Math.round(ms / 1000))}s`

/**
 * A create's error without the spec's secret values: Fly's error text (a validation message may quote the config it
 * refused) becomes the `ProvisionError` message, which the orchestration puts on the issue.
 */
export const withoutSecrets = (
  error: FlyHttp.FlyApiError,
  secretEnv: MachineProvisioner.MachineSpec["secretEnv"]
): FlyHttp.FlyApiError => {
  const values = Object.values(secretEnv).map((value) => Redacted.value(value)).filter((value) => value.length >= 6)
  if (values.length === 0) return error
  const scrub = (text: string | undefined) =>
    text === undefined ? undefined : values.reduce((out, value) => out.split(value).join("<redacted>"), text)
  return new FlyHttp.FlyApiError({ ...error, flyError: scrub(error.flyError), detail: scrub(error.detail) })
}

/** Which setting a Fly validation error is about, named for the user. */
const fieldOf = (text: string, body: FlyApi.CreateMachineRequest | undefined): string => {
  const t = text.toLowerCase()
  const guest = body?.config.guest
  if (/memory/.test(t)) {
    return `the machine memory (\`guest.memory_mb\` = ${guest?.memory_mb ?? "?"}, set with PORTER_MACHINE_MEMORY_MB)`
  }
  if (/cpu_kind|cpu kind/.test(t)) return `the CPU kind (\`guest.cpu_kind\` = ${guest?.cpu_kind ?? "?"})`
  if (/cpu/.test(t)) return `the CPU count (\`guest.cpus\` = ${guest?.cpus ?? "?"}, set with PORTER_MACHINE_CPUS)`
  if (/image/.test(t)) return `the image (\`image\` = ${body?.config.image ?? "?"}, set with PORTER_MACHINE_IMAGE)`
  if (/region/.test(t)) {
    return `the region (\`region\` = ${body?.region ?? "unset"}, set with PORTER_MACHINE_REGION or FLY_REGION)`
  }
  if (/\benv\b|environment/.test(t)) return "the machine environment (`env`)"
  if (/restart/.test(t)) return "the restart policy (`restart`)"
  if (/metadata/.test(t)) return "the machine metadata (`metadata`)"
  if (/name/.test(t)) return "the machine name (`name`)"
  const size = `${guest?.cpus ?? "?"} ${guest?.cpu_kind ?? "?"} CPU(s), ${guest?.memory_mb ?? "?"} MB`
  return `the machine settings (image ${body?.config.image ?? "?"}, ${size}${
    body?.region ? `, region ${body.region}` : ""
  })`
}

const RETRY_HINT = "comment `@porter retry` to try again"

/** A failed call, as the user reads it on the issue. */
export const toProvisionError = (
  error: FlyHttp.FlyApiError,
  context: { readonly app: string; readonly apiUrl: string; readonly body?: FlyApi.CreateMachineRequest | undefined }
): Errors.ProvisionError => {
  const fly = error.flyError ? `: ${error.flyError}` : ""
  const tries = error.attempts > 1 ? ` after ${error.attempts} attempts in ${seconds(error.elapsedMs)}` : ""
  const make = (reason: Errors.ProvisionFailure, message: string) =>
    new Errors.ProvisionError({
      reason,
      message,
      ...(error.status !== undefined ? { status: error.status } : {}),
      cause: error
    })
  switch (error.kind) {
    case "transport":
    case "timeout":
      return make(
        "unavailable",
        `could not reach the Fly Machines API at ${context.apiUrl} (${error.detail ?? error.kind})${tries}; ` +
          `${RETRY_HINT} later`
      )
    case "invalid":
      return make(
        "bad_config",
        `the Fly request could not be built (${error.detail ?? "invalid"}); check FLY_API_URL and FLY_APP_NAME`
      )
    case "malformed":
      return make("unknown", `the Fly Machines API sent an answer Porter does not understand (${error.detail ?? "?"})`)
    case "status":
      break
  }
  const status = error.status ?? 0
  if (status === 401 || status === 403) {
    return make(
      "unauthorized",
      `Fly rejected the API token (${status}${fly})${
        status === 403 ? `: it has no access to the Fly app \`${context.app}\`` : ""
      }. Set a valid FLY_API_TOKEN with \`porter secrets set FLY_API_TOKEN …\` (for your user, this repository or ` +
        `the installation) or fix the deployment's FLY_API_TOKEN, then ${RETRY_HINT}.`
    )
  }
  if (error.flyStatus === "insufficient_capacity") {
    return make(
      "unavailable",
      `Fly has no capacity for this machine (${status}${fly})${tries}; try another region (PORTER_MACHINE_REGION) or a ` +
        `smaller size, or ${RETRY_HINT} later.`
    )
  }
  if (status === 404) {
    return make(
      "not_found",
      `Fly has no app \`${context.app}\` that this token can see (404${fly}). ` +
        `Create it (\`fly apps create ${context.app}\`) or set FLY_APP_NAME to an existing app, then ${RETRY_HINT}.`
    )
  }
  if (status === 422 || status === 400) {
    return make(
      "bad_config",
      `Fly refused the machine configuration (${status}${fly}); check ${fieldOf(error.flyError ?? "", context.body)}.`
    )
  }
  if (status === 409 || status === 412) {
    return make("conflict", `Fly refused the request in the machine's current state (${status}${fly}).`)
  }
  if (status === 429) {
    return make(
      "rate_limited",
      `Fly kept rate-limiting Porter's requests (429${fly})${tries}; wait a minute, then ${RETRY_HINT}.`
    )
  }
  if (status >= 500) {
    return make("unavailable", `the Fly Machines API failed (${status}${fly})${tries}; ${RETRY_HINT} later.`)
  }
  return make("unknown", `the Fly Machines API answered ${status}${fly}.`)
}

const noToken = new Errors.ProvisionError({
  reason: "unauthorized",
  message: "no Fly API token is set. Set FLY_API_TOKEN with `porter secrets set FLY_API_TOKEN …` (for your user, " +
    "this repository or the installation) or configure the deployment's FLY_API_TOKEN, then comment `@porter retry`."
})

const decodeMachine = HttpClientResponse.schemaBodyJson(FlyApi.Machine)
const decodeMachines = HttpClientResponse.schemaBodyJson(FlyApi.MachineList)
const decodeWait = HttpClientResponse.schemaBodyJson(FlyApi.WaitMachineResponse)
const encodeCreate = HttpClientRequest.schemaBodyJson(FlyApi.CreateMachineRequest)
const encodeStop = HttpClientRequest.schemaBodyJson(FlyApi.StopRequest)
const ignoreBody = () => Effect.void

/** Fly caps one wait call at 60 s. */
const MAX_WAIT_SECONDS = 60

/** The Fly provisioner on an `HttpClient`: one machine per task, found again by its metadata. */
export const make = (options: FlyOptions): Effect.Effect<FlyMachines["Service"], never, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const http = yield* FlyHttp.make({
      apiUrl: options.apiUrl ?? FlyApi.DEFAULT_API_URL,
      retry: { ...FlyHttp.defaultRetryPolicy, ...options.retry },
      requestTimeoutMs: options.requestTimeoutMs ?? 30_000
    })
    const app = options.app
    const appPath = `/apps/${encodeURIComponent(app)}`
    const machinePath = (id: Ids.MachineId) => `${appPath}/machines/${encodeURIComponent(id)}`
    const defaults = { image: options.image ?? PorterConfig.defaultMachineImage, region: options.region }
    const context = { app, apiUrl: http.apiUrl }

    const tokenFor = (credential: Redacted.Redacted<string> | undefined) => {
      const token = credential ?? options.token
      return token === undefined || Redacted.value(token).trim() === "" ? Effect.fail(noToken) : Effect.succeed(token)
    }
    const fail = (body?: FlyApi.CreateMachineRequest) => (error: FlyHttp.FlyApiError) =>
      Effect.fail(toProvisionError(error, { ...context, body }))

    /** Porter's live machines matching a metadata filter (sent as Fly's `metadata.<key>` query, checked again here). */
    const listWhere = (token: Redacted.Redacted<string>, key: string, value: string) =>
      http.call({
        op: "list",
        token,
        request: HttpClientRequest.get(`${appPath}/machines`).pipe(
          HttpClientRequest.setUrlParam(`metadata.${key}`, value)
        ),
        decode: decodeMachines
      }).pipe(
        Effect.map((machines) =>
          machines
            .filter((m) =>
              isPorters(m) && m.config?.metadata?.[key] === value &&
              !MachineProvisioner.isGone(toMachineState(m.state))
            )
            .sort((a, b) => (a.created_at ?? "").localeCompare(b.created_at ?? ""))
        )
      )

    /** The machines one create call made (its `porter_create_id`), destroyed ones included. */
    const listCreated = (token: Redacted.Redacted<string>, createId: string) =>
      http.call({
        op: "list",
        token,
        request: HttpClientRequest.get(`${appPath}/machines`).pipe(
          HttpClientRequest.setUrlParam(`metadata.${FlyApi.METADATA_CREATE_ID}`, createId),
          HttpClientRequest.setUrlParam("include_deleted", "true")
        ),
        decode: decodeMachines
      }).pipe(
        Effect.map((machines) =>
          machines.filter((m) => isPorters(m) && m.config?.metadata?.[FlyApi.METADATA_CREATE_ID] === createId)
        )
      )

    const findByTask = Effect.fn("FlyMachines.findByTask")(function*(
      taskId: Ids.TaskId,
      call?: MachineProvisioner.CallOptions
    ) {
      const token = yield* tokenFor(call?.credential)
      const machines = yield* listWhere(token, FlyApi.METADATA_TASK_ID, taskId).pipe(Effect.catch(fail()))
      return Option.map(Option.fromNullishOr(machines.find(mayRun)), toMachine)
    })

    const list = Effect.fn("FlyMachines.list")(function*(call?: MachineProvisioner.CallOptions) {
      const token = yield* tokenFor(call?.credential)
      const machines = yield* listWhere(token, FlyApi.METADATA_PORTER, "1").pipe(Effect.catch(fail()))
      return machines.map(toMachine)
    })

    const create = Effect.fn("FlyMachines.create")(function*(spec: MachineProvisioner.MachineSpec) {
      yield* Effect.annotateCurrentSpan({ taskId: spec.taskId, app })
      const token = yield* tokenFor(spec.credential)
      const createId = crypto.randomUUID()
      const body = createRequest(spec, defaults, createId)
      const request = yield* encodeCreate(HttpClientRequest.post(`${appPath}/machines`), body).pipe(
        Effect.mapError((cause) =>
          new Errors.ProvisionError({
            reason: "bad_config",
            message: "the machine request could not be encoded",
            cause
          })
        )
      )
      const machine = yield* http.call({
        op: "create",
        token,
        request,
        decode: decodeMachine,
        // An earlier try of this create may have made the machine although its answer was lost: hand back that
        // machine whatever its state (a failed launch, or one that already ran and was destroyed), so it is recorded
        // and the orchestration replaces it if it cannot run. Never make a second, unrecorded one.
        recover: Effect.map(
          listCreated(token, createId),
          (found) => Option.fromNullishOr(found[0])
        )
      }).pipe(Effect.catch((error) => fail(body)(withoutSecrets(error, spec.secretEnv))))
      const result = toMachine(machine)
      yield* Effect.logInfo("Fly machine created", { taskId: spec.taskId, machineId: result.id, app })
      return result
    })

    const get = Effect.fn("FlyMachines.get")(function*(id: Ids.MachineId, call?: MachineProvisioner.CallOptions) {
      const token = yield* tokenFor(call?.credential)
      const found = yield* http.call({
        op: "get",
        token,
        request: HttpClientRequest.get(machinePath(id)),
        decode: (response) => Effect.map(decodeMachine(response), Option.some),
        onStatus: (status) => (status === 404 ? Option.some(Option.none()) : Option.none())
      }).pipe(Effect.catch(fail()))
      if (Option.isNone(found)) return yield* new Errors.MachineNotFound({ machineId: id })
      return toMachine(found.value)
    })

    const destroy = Effect.fn("FlyMachines.destroy")(
      function*(id: Ids.MachineId, call?: MachineProvisioner.CallOptions) {
        const token = yield* tokenFor(call?.credential)
        const outcome = yield* http.call({
          op: "destroy",
          token,
          request: HttpClientRequest.delete(machinePath(id)).pipe(HttpClientRequest.setUrlParam("force", "true")),
          decode: () => Effect.succeed("destroyed" as const),
          // Unknown or already gone: destroy is idempotent.
          onStatus: (status) => (status === 404 ? Option.some("gone" as const) : Option.none())
        }).pipe(
          Effect.catch((error) =>
            error.kind === "status" && (error.status === 409 || error.status === 412)
              // Refused because it is already being destroyed? Then that is what we wanted.
              ? Effect.flatMap(
                get(id, call).pipe(Effect.catchTag("MachineNotFound", () => Effect.succeed(undefined))),
                (machine) =>
                  machine === undefined || MachineProvisioner.isGone(machine.state)
                    ? Effect.succeed("gone" as const)
                    : fail()(error)
              )
              : fail()(error)
          )
        )
        yield* Effect.logInfo("Fly machine destroyed", { machineId: id, app, outcome })
      }
    )

    const waitFor = Effect.fn("FlyMachines.waitFor")(function*(
      id: Ids.MachineId,
      state: FlyApi.WaitState,
      call?: WaitOptions
    ) {
      const token = yield* tokenFor(call?.credential)
      const timeoutMs = call?.timeoutMs ?? 60_000
      const reached = (machine: MachineProvisioner.Machine) =>
        state === "settled"
          ? ["started", "stopped", "suspended", "failed", "destroyed"].includes(machine.state)
          : machine.state === state
      const current = (machine: Ids.MachineId) =>
        get(machine, call).pipe(
          Effect.catchTag("MachineNotFound", (error) =>
            state === "destroyed"
              ? Effect.succeed(new MachineProvisioner.Machine({ id: machine, state: "destroyed" }))
              : Effect.fail(error))
        )
      const started = yield* Clock.currentTimeMillis
      let refused = 0
      for (;;) {
        const machine = yield* current(id)
        if (reached(machine)) return machine
        if (MachineProvisioner.isGone(machine.state) && state !== "destroyed") {
          return yield* new Errors.ProvisionError({
            reason: "conflict",
            message: `machine ${id} is ${machine.state}; it will never be ${state}`
          })
        }
        const now = yield* Clock.currentTimeMillis
        const left = timeoutMs - (now - started)
        if (left <= 0) return yield* new FlyWaitTimeout({ machineId: id, state, timeoutMs })
        const waitSeconds = Math.max(1, Math.min(MAX_WAIT_SECONDS, Math.ceil(left / 1000)))
        const answer = yield* http.call({
          op: "wait",
          token,
          request: HttpClientRequest.get(`${machinePath(id)}/wait`).pipe(
            HttpClientRequest.setUrlParams({ state, timeout: String(waitSeconds) })
          ),
          decode: (response) => Effect.as(decodeWait(response), 200),
          timeoutMs: waitSeconds * 1000 + 10_000,
          // 408: not yet (Fly's answer when the wait times out); 404: gone; 400: the state cannot be reached any more
          // (destroyed meanwhile) — the next look tells which, once.
          onStatus: (status) =>
            status === 408 || status === 404 || (status === 400 && refused === 0) ? Option.some(status) : Option.none()
        }).pipe(Effect.catch(fail()))
        refused = answer === 400 ? refused + 1 : 0
      }
    })

    const stop = Effect.fn("FlyMachines.stop")(function*(id: Ids.MachineId, call?: StopOptions) {
      const token = yield* tokenFor(call?.credential)
      const body: FlyApi.StopRequest = {
        ...(call?.signal !== undefined ? { signal: call.signal } : {}),
        ...(call?.timeoutMs !== undefined ? { timeout: seconds(call.timeoutMs) } : {})
      }
      const request = yield* encodeStop(HttpClientRequest.post(`${machinePath(id)}/stop`), body).pipe(
        Effect.mapError((cause) =>
          new Errors.ProvisionError({ reason: "bad_config", message: "bad stop request", cause })
        )
      )
      const stopped = yield* http.call({
        op: "stop",
        token,
        request,
        decode: () => Effect.succeed(true),
        onStatus: (status) => (status === 404 ? Option.some(false) : Option.none())
      }).pipe(Effect.catch(fail()))
      if (!stopped) return yield* new Errors.MachineNotFound({ machineId: id })
    })

    return FlyMachines.of({
      app,
      apiUrl: http.apiUrl,
      credentialName: CREDENTIAL_NAME,
      create,
      get,
      findByTask,
      list,
      destroy,
      waitFor,
      stop
    })
  })

/** Provides `FlyMachines` and `MachineProvisioner`; needs an `HttpClient` (`FetchHttpClient.layer` at the edge). */
export const layer = (
  options: FlyOptions
): Layer.Layer<FlyMachines | MachineProvisioner.MachineProvisioner, never, HttpClient.HttpClient> =>
  Layer.effectContext(
    Effect.map(
      make(options),
      (service) => Context.make(FlyMachines, service).pipe(Context.add(MachineProvisioner.MachineProvisioner, service))
    )
  )

/**
 * From configuration: `FLY_APP_NAME` (required), `FLY_API_TOKEN` (deploy-wide fallback), `FLY_API_URL`,
 * `PORTER_MACHINE_IMAGE`, `FLY_REGION`.
 */
export const config: Config.Config<FlyOptions> = Config.all({
  app: Config.String("FLY_APP_NAME"),
  token: Config.option(Config.Redacted("FLY_API_TOKEN")),
  apiUrl: Config.String("FLY_API_URL").pipe(Config.withDefault(FlyApi.DEFAULT_API_URL)),
  image: Config.String("PORTER_MACHINE_IMAGE").pipe(Config.withDefault(PorterConfig.defaultMachineImage)),
  region: Config.option(Config.String("FLY_REGION"))
}).pipe(
  Config.map(({ apiUrl, app, image, region, token }) => ({
    app,
    apiUrl,
    image,
    ...(Option.isSome(token) ? { token: token.value } : {}),
    ...(Option.isSome(region) ? { region: region.value } : {})
  }))
)

/** The Fly provisioner from configuration (`FLY_APP_NAME`, `FLY_API_TOKEN`, `FLY_API_URL`, …). */
export const layerConfig: Layer.Layer<
  FlyMachines | MachineProvisioner.MachineProvisioner,
  Config.ConfigError,
  HttpClient.HttpClient
> = Layer.unwrap(Effect.map(config, layer))

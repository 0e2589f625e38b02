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
import { createRequest, isPorters, mayRun, seconds, toMachine, toMachineState } from "./FlyMachineMapping.ts"
import { noToken, toProvisionError, withoutSecrets } from "./FlyProvisionError.ts"

export { createRequest, toMachine, toMachineState } from "./FlyMachineMapping.ts"
export { toProvisionError, withoutSecrets } from "./FlyProvisionError.ts"

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

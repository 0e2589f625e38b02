/**
 * The subset of the Fly Machines REST API (OpenAPI 3.0.1 "Machines API", `servers: https://api.machines.dev/v1`)
 * that Porter speaks, as Schemas. Names and shapes follow the official description's components
 * (`CreateMachineRequest`, `fly.MachineConfig`, `fly.MachineGuest`, `fly.MachineRestart`, `Machine`,
 * `WaitMachineResponse`, `StopRequest`, `ErrorResponse`, `CreateAppRequest`, `App`); only the fields Porter
 * sends or reads are modelled. Responses are decoded leniently (unknown fields are ignored, optional fields may be
 * absent or `null`), requests strictly: `test/openapi.test.ts` checks every request against the description.
 *
 * Not modelled on purpose: a response's `config.env` (it holds the task's secrets; Porter never reads it back).
 */
import { Schema } from "effect"

/** The public Machines API base; spec paths are relative to it. */
export const DEFAULT_API_URL = "https://api.machines.dev/v1"

const optionalNullable = <S extends Schema.Constraint>(schema: S) => Schema.optional(Schema.NullOr(schema))

/** `fly.MachineGuest` (the fields Porter sets). */
export const MachineGuest = Schema.Struct({
  cpu_kind: Schema.String,
  cpus: Schema.Int,
  memory_mb: Schema.Int
})
export type MachineGuest = typeof MachineGuest.Type

/** `fly.MachineRestart`. */
export const MachineRestart = Schema.Struct({
  policy: Schema.Literals(["no", "always", "on-failure", "spot-price"]),
  max_retries: Schema.optionalKey(Schema.Int)
})

/** `fly.MachineConfig` as Porter sends it. */
export const MachineConfigRequest = Schema.Struct({
  image: Schema.String,
  env: Schema.Record(Schema.String, Schema.String),
  guest: MachineGuest,
  auto_destroy: Schema.Boolean,
  restart: MachineRestart,
  metadata: Schema.Record(Schema.String, Schema.String)
})
export type MachineConfigRequest = typeof MachineConfigRequest.Type

/** `CreateMachineRequest`. */
export const CreateMachineRequest = Schema.Struct({
  config: MachineConfigRequest,
  region: Schema.optionalKey(Schema.String),
  name: Schema.optionalKey(Schema.String)
})
export type CreateMachineRequest = typeof CreateMachineRequest.Type

/** `StopRequest`. */
export const StopRequest = Schema.Struct({
  signal: Schema.optionalKey(
    Schema.Literals(["SIGHUP", "SIGINT", "SIGQUIT", "SIGKILL", "SIGUSR1", "SIGUSR2", "SIGTERM"])
  ),
  /** A Go duration such as `"10s"`. */
  timeout: Schema.optionalKey(Schema.String)
})
export type StopRequest = typeof StopRequest.Type
/** A signal `stop` may send to a machine's process. */
export type StopSignal = NonNullable<StopRequest["signal"]>

/** `CreateAppRequest`. */
export const CreateAppRequest = Schema.Struct({
  name: Schema.String,
  org_slug: Schema.String,
  network: Schema.optionalKey(Schema.String)
})
export type CreateAppRequest = typeof CreateAppRequest.Type

/** `fly.MachineConfig` as read back: only what Porter needs (never `env`). */
export const MachineConfigResponse = Schema.Struct({
  image: optionalNullable(Schema.String),
  auto_destroy: optionalNullable(Schema.Boolean),
  metadata: optionalNullable(Schema.Record(Schema.String, Schema.String)),
  guest: optionalNullable(Schema.Struct({
    cpu_kind: optionalNullable(Schema.String),
    cpus: optionalNullable(Schema.Number),
    memory_mb: optionalNullable(Schema.Number)
  }))
})

/** `Machine`. */
export const Machine = Schema.Struct({
  id: Schema.String,
  name: optionalNullable(Schema.String),
  state: Schema.String,
  region: optionalNullable(Schema.String),
  instance_id: optionalNullable(Schema.String),
  created_at: optionalNullable(Schema.String),
  updated_at: optionalNullable(Schema.String),
  config: optionalNullable(MachineConfigResponse)
})
export type Machine = typeof Machine.Type

/** `GET /apps/{app}/machines`: the app's machines. */
export const MachineList = Schema.Array(Machine)

/** `WaitMachineResponse`. */
export const WaitMachineResponse = Schema.Struct({
  ok: optionalNullable(Schema.Boolean),
  state: optionalNullable(Schema.String),
  version: optionalNullable(Schema.String),
  event_id: optionalNullable(Schema.String)
})

/** `ErrorResponse`; `status` is `main.statusCode` (`unknown`, `insufficient_capacity`; fly-go also knows `name_taken`). */
export const ErrorResponse = Schema.Struct({
  error: optionalNullable(Schema.String),
  status: optionalNullable(Schema.String)
})
export type ErrorResponse = typeof ErrorResponse.Type

/** `App`. */
export const App = Schema.Struct({
  id: optionalNullable(Schema.String),
  name: optionalNullable(Schema.String),
  status: optionalNullable(Schema.String)
})

/** States `GET …/wait` accepts (`state` enum in the description). */
export const WaitState = Schema.Literals(["started", "stopped", "suspended", "destroyed", "failed", "settled"])
export type WaitState = typeof WaitState.Type

/** Metadata keys Porter puts on every machine it creates. */
export const METADATA_PORTER = "porter"
/** The machine metadata key holding the Porter task id (how `findByTask` and `list` work without Porter's database). */
export const METADATA_TASK_ID = "porter_task_id"
/**
 * A random id per create call (all its retries share it): a create whose answer was lost finds exactly the machine
 * it made by this key, whatever that machine's state, and never an earlier attempt's machine of the same task.
 */
export const METADATA_CREATE_ID = "porter_create_id"

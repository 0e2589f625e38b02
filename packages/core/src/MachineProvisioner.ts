/**
 * MachineProvisioner: one isolated, short-lived runtime per task. Adapters: Fly Machines, Docker,
 * local process, in-memory. Every machine carries its task id (Fly metadata, Docker labels…), so
 * `findByTask` and `list` work without Porter's database — that is how a lost create answer never
 * becomes a second machine, and how orphans are found.
 */
import { Context, Schema } from "effect"
import type { Effect, Option, Redacted } from "effect"
import type { MachineNotFound, ProvisionError } from "./Errors.ts"
import { MachineId } from "./Ids.ts"
import type { TaskId } from "./Ids.ts"

/** Fly's machine states; other adapters map theirs onto these. */
export const MachineState = Schema.Literals([
  "created",
  "starting",
  "started",
  "stopping",
  "stopped",
  "suspended",
  "replacing",
  "destroying",
  "destroyed",
  "failed"
])
export type MachineState = typeof MachineState.Type

/** A machine that no longer runs and never will. */
export const isGone = (state: MachineState): boolean => state === "destroyed" || state === "destroying"

/** A machine's size: CPU kind, CPUs and memory. */
export interface Guest {
  readonly cpuKind: "shared" | "performance"
  readonly cpus: number
  readonly memoryMb: number
}

/** Two shared CPUs and 2 GiB of memory. */
export const defaultGuest: Guest = { cpuKind: "shared", cpus: 2, memoryMb: 2048 }

/** What to start for a task: its id, image, environment, secrets, size, region, deadline, owner's credential. */
export interface MachineSpec {
  readonly taskId: TaskId
  /** The runner image (Fly, Docker); process adapters ignore it. */
  readonly image?: string
  /** Plain machine environment. */
  readonly env: Readonly<Record<string, string>>
  /** Secret machine environment: unwrapped only at the adapter's boundary, never logged. */
  readonly secretEnv: Readonly<Record<string, Redacted.Redacted<string>>>
  readonly guest: Guest
  readonly region?: string
  /** Epoch millis; adapters that can enforce a hard stop (process, Docker) do. */
  readonly deadlineAt?: number
  /** The provider credential for this task's owner (a Fly token from the SecretStore); else the adapter's own. */
  readonly credential?: Redacted.Redacted<string>
}

/** A machine as a provisioner reports it: id, state, task, region, creation time. */
export class Machine extends Schema.Class<Machine>("@porter/core/Machine")({
  id: MachineId,
  taskId: Schema.optional(Schema.String),
  state: MachineState,
  region: Schema.optional(Schema.String),
  createdAt: Schema.optional(Schema.Number)
}) {}

/**
 * The machines that still run or may, oldest first: what a provider's `list` answers and the first of which its
 * `findByTask` returns (one rule for the providers that list their machines themselves).
 */
export const liveOldestFirst = (machines: Iterable<Machine>): Array<Machine> =>
  [...machines].filter((machine) => !isGone(machine.state)).sort((a, b) => (a.createdAt ?? 0) - (b.createdAt ?? 0))

/** Per-call options: the provider credential of the task's owner, when accounts are per owner. */
export interface CallOptions {
  readonly credential?: Redacted.Redacted<string>
}

/** Starts, finds and destroys the machines tasks run on (Fly, Docker, local processes…). */
export class MachineProvisioner extends Context.Service<MachineProvisioner, {
  /** The name of the secret that holds a per-user/installation credential, if the adapter takes one. */
  readonly credentialName?: string
  readonly create: (spec: MachineSpec) => Effect.Effect<Machine, ProvisionError>
  readonly get: (id: MachineId, options?: CallOptions) => Effect.Effect<Machine, MachineNotFound | ProvisionError>
  /** The task's machine that may still run (neither gone nor failed), if any. */
  readonly findByTask: (taskId: TaskId, options?: CallOptions) => Effect.Effect<Option.Option<Machine>, ProvisionError>
  /** Every machine this provisioner made for Porter that is not gone (failed ones included, for the orphan sweep). */
  readonly list: (options?: CallOptions) => Effect.Effect<ReadonlyArray<Machine>, ProvisionError>
  /** Stops and removes a machine. Idempotent: destroying a gone or unknown machine succeeds. */
  readonly destroy: (id: MachineId, options?: CallOptions) => Effect.Effect<void, ProvisionError>
}>()("@porter/core/MachineProvisioner") {}

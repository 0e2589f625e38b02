/**
 * Between Porter's machines and Fly's: Fly's machine states onto core's, a Fly machine as a `Machine`, and a
 * `MachineSpec` as the body of a create (image, environment, guest size, `auto_destroy`, Porter's metadata). Pure
 * functions, kept apart from the calls so the request shape can be read and tested on its own.
 */
import { type Ids, MachineProvisioner } from "@porter/core"
import { Redacted } from "effect"
import * as FlyApi from "./FlyApi.ts"

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

/** Tagged as Porter's (`porter: "1"`). */
export const isPorters = (machine: FlyApi.Machine) => machine.config?.metadata?.[FlyApi.METADATA_PORTER] === "1"

/**
 * A task's machine that may still do its work: not gone, and not `failed` (a launch that failed never runs). The
 * orchestration dispatches a stuck task again only after finding its machine failed; handing that same machine back
 * would spend every attempt on it. Failed machines stay in `list`, so the orphan sweep still destroys them.
 */
export const mayRun = (machine: FlyApi.Machine) => toMachineState(machine.state) !== "failed"

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

/** Milliseconds as Fly's duration text (`30s`), never negative. */
export const seconds = (ms: number) => `${Math.max(0, Math.round(ms / 1000))}s`

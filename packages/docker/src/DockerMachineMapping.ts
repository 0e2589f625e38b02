/**
 * Between Porter's machines and Docker's containers: a container (inspected or listed) as a `Machine`, and a
 * `MachineSpec` as the body of a create — environment, CPU and memory limits (CPUs capped at what the daemon has),
 * Porter's labels, auto-removal, init, network. Pure functions, kept apart from the Engine calls so the request
 * shape can be read and tested on its own.
 */
import { type Ids, MachineProvisioner } from "@porter/core"
import { Redacted } from "effect"
import * as DockerApi from "./DockerApi.ts"

/** Labelled as Porter's (`porter=1`). */
export const isPorters = (labels: Readonly<Record<string, string>> | null | undefined): boolean =>
  labels?.[DockerApi.LABEL_PORTER] === "1"

/** A container (as inspected) as Porter's `Machine`: its id, state, task and creation time. */
export const toMachine = (container: DockerApi.ContainerInspect): MachineProvisioner.Machine => {
  const taskId = container.Config.Labels?.[DockerApi.LABEL_TASK_ID]
  const createdAt = container.Created ? Date.parse(container.Created) : Number.NaN
  return new MachineProvisioner.Machine({
    id: container.Id as Ids.MachineId,
    state: DockerApi.toMachineState(container.State.Status),
    ...(taskId ? { taskId } : {}),
    ...(Number.isFinite(createdAt) ? { createdAt } : {})
  })
}

/** A container (as listed) as Porter's `Machine`. */
export const summaryToMachine = (container: DockerApi.ContainerSummary): MachineProvisioner.Machine => {
  const taskId = container.Labels?.[DockerApi.LABEL_TASK_ID]
  return new MachineProvisioner.Machine({
    id: container.Id as Ids.MachineId,
    state: DockerApi.toMachineState(container.State),
    ...(taskId ? { taskId } : {}),
    ...(container.Created !== undefined ? { createdAt: container.Created * 1000 } : {})
  })
}

/** The create body; secret values are unwrapped here and nowhere else. */
export const createRequest = (
  spec: MachineProvisioner.MachineSpec,
  settings: {
    readonly image: string
    readonly maxCpus?: number | undefined
    readonly autoRemove: boolean
    readonly init: boolean
    readonly network?: string | undefined
    readonly extraHosts: ReadonlyArray<string>
    readonly stopTimeoutSeconds: number
    readonly command?: ReadonlyArray<string> | undefined
    readonly instance?: string | undefined
  }
): DockerApi.CreateContainerRequest => {
  const env: Array<string> = []
  for (const [name, value] of Object.entries(spec.env)) if (!name.includes("=")) env.push(`${name}=${value}`)
  for (const [name, value] of Object.entries(spec.secretEnv)) {
    if (!name.includes("=")) env.push(`${name}=${Redacted.value(value)}`)
  }
  const cpus = settings.maxCpus !== undefined && settings.maxCpus > 0
    ? Math.min(spec.guest.cpus, settings.maxCpus)
    : spec.guest.cpus
  return {
    Image: settings.image,
    Env: env,
    Labels: {
      [DockerApi.LABEL_PORTER]: "1",
      [DockerApi.LABEL_TASK_ID]: spec.taskId,
      ...(settings.instance !== undefined ? { [DockerApi.LABEL_INSTANCE]: settings.instance } : {}),
      ...(spec.deadlineAt !== undefined ? { [DockerApi.LABEL_DEADLINE]: String(Math.floor(spec.deadlineAt)) } : {})
    },
    StopTimeout: settings.stopTimeoutSeconds,
    ...(settings.command !== undefined ? { Cmd: settings.command } : {}),
    HostConfig: {
      ...(cpus > 0 ? { NanoCpus: Math.round(cpus * 1e9) } : {}),
      ...(spec.guest.memoryMb > 0 ? { Memory: Math.round(spec.guest.memoryMb * 1024 * 1024) } : {}),
      AutoRemove: settings.autoRemove,
      Init: settings.init,
      ...(settings.network !== undefined ? { NetworkMode: settings.network } : {}),
      ...(settings.extraHosts.length > 0 ? { ExtraHosts: settings.extraHosts } : {})
    }
  }
}

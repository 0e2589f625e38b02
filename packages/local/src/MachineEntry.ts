/**
 * What the local provisioner keeps in memory of each machine it runs or adopted — its process, its scope, whether it
 * is being destroyed and when it is to be forgotten — how a fresh machine id is made, and how an entry reads as
 * core's `Machine` (`started`, `stopping`, `destroying`, then `destroyed` or, without auto-destroy, `stopped`).
 */
import { Ids, MachineProvisioner } from "@porter/core"
import { Effect, type Scope } from "effect"
import type * as ProcessMachine from "./ProcessMachine.ts"

/** One machine the provisioner knows: its process and scope, and where it is in its end. */
export interface Entry {
  readonly id: Ids.MachineId
  readonly taskId: string | undefined
  readonly createdAt: number
  readonly proc: ProcessMachine.ProcessMachine
  readonly scope: Scope.Closeable
  /** Set by `destroy`: the machine is being, or has been, destroyed. */
  destroying: boolean
  /** Set once nothing of it runs and it is to be forgotten at `forgetAt`. */
  forgetAt: number | undefined
}

const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"

/** A fresh machine id: `local_` and 16 random characters. */
export const newMachineId = (): Ids.MachineId => {
  let out = "local_"
  for (const byte of Ids.randomBytes(16)) out += ALPHABET[byte & 31]
  return out as Ids.MachineId
}

/** The entry's state as core's; an ended process is `destroyed` with `autoDestroy`, else `stopped`. */
export const stateOf = (entry: Entry, autoDestroy: boolean): Effect.Effect<MachineProvisioner.MachineState> =>
  Effect.map(entry.proc.status, (status) => {
    if (entry.destroying) return entry.forgetAt === undefined ? "destroying" : "destroyed"
    switch (status._tag) {
      case "Running":
        return "started"
      case "Stopping":
        return "stopping"
      case "Exited":
        return autoDestroy ? "destroyed" : "stopped"
    }
  })

/** The entry as core's `Machine`. */
export const toMachine = (entry: Entry, autoDestroy: boolean) =>
  Effect.map(stateOf(entry, autoDestroy), (machineState) =>
    new MachineProvisioner.Machine({
      id: entry.id,
      state: machineState,
      createdAt: entry.createdAt,
      ...(entry.taskId !== undefined ? { taskId: entry.taskId } : {})
    }))

/**
 * Taking over the machines a host that is gone left running, found through the state directory: each is matched by
 * pid and process start time (`ProcessMachine.adopt`), recorded under this host and tracked again; one that ended
 * meanwhile has its directory and record cleaned up. A state-directory step that fails is a warning, never a failed
 * call: adoption is tried again at the next look.
 */
import type { Ids } from "@porter/core"
import { Effect, Exit, FileSystem, Option, Scope } from "effect"
import type { Entry } from "./MachineEntry.ts"
import * as ProcessMachine from "./ProcessMachine.ts"
import * as StateDir from "./StateDir.ts"

/** Warns that a state-directory step failed and what that leaves; the machines themselves are unaffected. */
export const stateWarning =
  (what: string, fields: Record<string, unknown> = {}) => (error: { readonly message: string }) =>
    Effect.logWarning(what, { ...fields, error: error.message })

/** What adoption needs of the provisioner: its state directory, host id, machines, and how it runs processes. */
export interface AdoptionContext {
  readonly fs: FileSystem.FileSystem
  readonly state: StateDir.StateDir
  readonly hostId: string
  /** The machine is tracked already. */
  readonly isKnown: (id: string) => boolean
  /** Tracks an adopted machine (and watches for its end). */
  readonly track: (entry: Entry) => Effect.Effect<void>
  /** The process options of a machine, as the provisioner starts them. */
  readonly processOptions: (
    machineId: Ids.MachineId,
    taskId: string | undefined,
    deadlineAt: number | undefined
  ) => Omit<ProcessMachine.AdoptOptions, "pid" | "startTime" | "dir">
  /** A directory only this provisioner could have made (so a record's may be deleted). */
  readonly isOurDirectory: (dir: string) => boolean
}

/** Takes over one machine of a host that is gone, or cleans up after it when it ended meanwhile. */
export const adoptOne = (context: AdoptionContext, record: StateDir.MachineRecord) => {
  const { hostId, state } = context
  const withFs = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.provideService(effect, FileSystem.FileSystem, context.fs)
  return Effect.gen(function*() {
    if (context.isKnown(record.id) || (yield* state.hostRunning(record.host))) return
    const scope = yield* Scope.make()
    const proc = yield* withFs(ProcessMachine.adopt({
      pid: record.pid,
      startTime: record.startTime,
      dir: record.dir,
      ...context.processOptions(record.id as Ids.MachineId, record.taskId, record.deadlineAt)
    })).pipe(Scope.provide(scope), Effect.tapError(() => Scope.close(scope, Exit.void)))
    if (Option.isNone(proc)) {
      yield* Scope.close(scope, Exit.void)
      if (context.isOurDirectory(record.dir)) yield* withFs(ProcessMachine.removeSandbox(record.dir))
      yield* state.remove(record.id)
      return
    }
    yield* state.put(new StateDir.MachineRecord({ ...record, host: hostId })).pipe(
      Effect.catch(
        stateWarning("an adopted machine's record still names its old host; another host may adopt it too", {
          machineId: record.id
        })
      )
    )
    yield* context.track({
      id: record.id as Ids.MachineId,
      taskId: record.taskId,
      createdAt: record.createdAt,
      proc: proc.value,
      scope,
      destroying: false,
      forgetAt: undefined
    })
    yield* Effect.logInfo("adopted a local machine left by an earlier host", {
      machineId: record.id,
      taskId: record.taskId,
      pid: record.pid
    })
  }).pipe(Effect.catch(stateWarning("could not adopt a local machine left by an earlier host; trying again later", {
    machineId: record.id
  })))
}

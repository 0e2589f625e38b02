/**
 * A `MachineProvisioner` whose machines are Node worker threads running one script. Not isolated (same process,
 * same filesystem): an example of the port, not a sandbox. Each thread gets the machine environment as
 * `workerData.env` (secrets included, unwrapped only here).
 */
import { Errors, type Ids, MachineProvisioner } from "@porter/core"
import { Clock, Effect, Layer, Option, Redacted } from "effect"
import { Worker } from "node:worker_threads"

export interface Options {
  /** The script each machine runs (an ES module path or URL). */
  readonly script: string | URL
}

interface Entry {
  machine: MachineProvisioner.Machine
  readonly worker: Worker
}

export const make = (options: Options) =>
  Effect.gen(function*() {
    const machines = new Map<string, Entry>()
    let counter = 0

    const setState = (id: string, state: MachineProvisioner.MachineState) => {
      const entry = machines.get(id)
      if (entry) entry.machine = new MachineProvisioner.Machine({ ...entry.machine, state })
    }

    const create = Effect.fn("WorkerThreads.create")(function*(spec: MachineProvisioner.MachineSpec) {
      const id = `wt_${(++counter).toString(36)}_${spec.taskId.slice(-8)}` as Ids.MachineId
      const env = {
        ...spec.env,
        ...Object.fromEntries(Object.entries(spec.secretEnv).map(([k, v]) => [k, Redacted.value(v)]))
      }
      const worker = yield* Effect.try({
        try: () => new Worker(options.script, { workerData: { env } }),
        catch: (cause) =>
          new Errors.ProvisionError({ reason: "bad_config", message: `cannot start ${options.script}`, cause })
      })
      const machine = new MachineProvisioner.Machine({
        id,
        taskId: spec.taskId,
        state: "started",
        createdAt: yield* Clock.currentTimeMillis
      })
      machines.set(id, { machine, worker })
      worker.on("exit", () => setState(id, "stopped"))
      return machine
    })

    const live = () => [...machines.values()].filter((e) => !MachineProvisioner.isGone(e.machine.state))

    return MachineProvisioner.MachineProvisioner.of({
      create,
      get: (id) =>
        Effect.suspend(() => {
          const entry = machines.get(id)
          return entry ? Effect.succeed(entry.machine) : Effect.fail(new Errors.MachineNotFound({ machineId: id }))
        }),
      findByTask: (taskId) =>
        Effect.sync(() => Option.fromNullishOr(live().find((e) => e.machine.taskId === taskId)?.machine)),
      list: () => Effect.sync(() => live().map((e) => e.machine)),
      destroy: (id) =>
        Effect.suspend(() => {
          const entry = machines.get(id)
          if (!entry) return Effect.void
          machines.delete(id)
          return Effect.promise(() => entry.worker.terminate()).pipe(Effect.asVoid)
        })
    })
  })

export const layer = (options: Options): Layer.Layer<MachineProvisioner.MachineProvisioner> =>
  Layer.effect(MachineProvisioner.MachineProvisioner, make(options))

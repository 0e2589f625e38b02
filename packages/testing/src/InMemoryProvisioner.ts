/**
 * MachineProvisioner in memory, scriptable: queue faults (errors, lost create answers, delays),
 * kill machines, and hook machine creation to play the runner (see `Machines.onCreate`).
 */
import { Clock, Context, Effect, Layer, Option, Ref } from "effect"
import { Errors, type Ids, MachineProvisioner } from "@porter/core"

export type Fault =
  /** The call fails with this error. */
  | { readonly op: "create" | "get" | "list" | "destroy" | "findByTask"; readonly error: Errors.ProvisionError }
  /** The machine is made, but the answer is lost (the caller sees `error`). */
  | { readonly op: "create"; readonly lostAnswer: true; readonly error: Errors.ProvisionError }
  /** The call takes this long (virtual time under TestClock). */
  | { readonly op: "create" | "destroy"; readonly delayMs: number }

export interface CreatedMachine {
  readonly machine: MachineProvisioner.Machine
  readonly spec: MachineProvisioner.MachineSpec
}

/** Controls and inspection for tests. */
export class Machines extends Context.Service<Machines, {
  /** Every machine ever created, with the spec it got (env included), oldest first. */
  readonly created: Effect.Effect<ReadonlyArray<CreatedMachine>>
  /** Live machines now. */
  readonly live: Effect.Effect<ReadonlyArray<MachineProvisioner.Machine>>
  readonly inject: (...faults: ReadonlyArray<Fault>) => Effect.Effect<void>
  /** The machine dies (as if its process crashed): state `failed`, no callback will come. */
  readonly kill: (id: Ids.MachineId) => Effect.Effect<void>
  /** Runs after each successful create (forked: it may sleep); use it to play the runner. */
  readonly onCreate: (hook: (created: CreatedMachine) => Effect.Effect<void>) => Effect.Effect<void>
  /** Adds a Porter-tagged machine nobody asked for (for orphan sweeps). */
  readonly adopt: (machine: MachineProvisioner.Machine) => Effect.Effect<void>
}>()("@porter/testing/Machines") {}

export const make = Effect.gen(function*() {
  const machines = yield* Ref.make(new Map<string, CreatedMachine>())
  const history = yield* Ref.make<Array<CreatedMachine>>([])
  const faults = yield* Ref.make<Array<Fault>>([])
  const hook = yield* Ref.make<((created: CreatedMachine) => Effect.Effect<void>) | undefined>(undefined)
  let counter = 0

  const takeFault = (op: Fault["op"]) =>
    Ref.modify(faults, (list): [Fault | undefined, Array<Fault>] => {
      const index = list.findIndex((f) => f.op === op)
      if (index < 0) return [undefined, list]
      return [list[index], [...list.slice(0, index), ...list.slice(index + 1)]]
    })

  const applyFault = (op: Fault["op"]) =>
    Effect.gen(function*() {
      const fault = yield* takeFault(op)
      if (fault === undefined) return undefined
      if ("delayMs" in fault) {
        yield* Effect.sleep(fault.delayMs)
        return undefined
      }
      if ("lostAnswer" in fault) return fault
      return yield* Effect.fail(fault.error)
    })

  const setState = (id: string, state: MachineProvisioner.MachineState) =>
    Ref.update(machines, (map) => {
      const entry = map.get(id)
      if (!entry) return map
      return new Map(map).set(id, {
        ...entry,
        machine: new MachineProvisioner.Machine({ ...entry.machine, state })
      })
    })

  const provisioner = MachineProvisioner.MachineProvisioner.of({
    create: (spec) =>
      Effect.gen(function*() {
        const fault = yield* applyFault("create")
        const now = yield* Clock.currentTimeMillis
        const machine = new MachineProvisioner.Machine({
          id: `m_mem${String(++counter).padStart(6, "0")}` as Ids.MachineId,
          taskId: spec.taskId,
          state: "started",
          createdAt: now,
          ...(spec.region !== undefined ? { region: spec.region } : {})
        })
        const created = { machine, spec }
        yield* Ref.update(machines, (map) => new Map(map).set(machine.id, created))
        yield* Ref.update(history, (list) => [...list, created])
        const run = yield* Ref.get(hook)
        if (run) yield* Effect.forkDetach(run(created))
        if (fault !== undefined) return yield* Effect.fail(fault.error)
        return machine
      }),
    get: (id) =>
      Effect.gen(function*() {
        yield* applyFault("get")
        const entry = (yield* Ref.get(machines)).get(id)
        if (!entry) return yield* new Errors.MachineNotFound({ machineId: id })
        return entry.machine
      }),
    findByTask: (taskId) =>
      Effect.gen(function*() {
        yield* applyFault("findByTask")
        const map = yield* Ref.get(machines)
        const found = [...map.values()].find((e) =>
          e.machine.taskId === taskId && e.machine.state !== "failed" && !MachineProvisioner.isGone(e.machine.state)
        )
        return Option.map(Option.fromNullishOr(found), (e) => e.machine)
      }),
    list: () =>
      Effect.gen(function*() {
        yield* applyFault("list")
        const map = yield* Ref.get(machines)
        return [...map.values()].map((e) => e.machine).filter((m) => !MachineProvisioner.isGone(m.state))
      }),
    destroy: (id) =>
      Effect.gen(function*() {
        yield* applyFault("destroy")
        yield* Ref.update(machines, (map) => {
          if (!map.has(id)) return map
          const next = new Map(map)
          next.delete(id)
          return next
        })
      })
  })

  const controls = Machines.of({
    created: Ref.get(history),
    live: Effect.map(Ref.get(machines), (map) => [...map.values()].map((e) => e.machine).filter((m) => !MachineProvisioner.isGone(m.state))),
    inject: (...more) => Ref.update(faults, (list) => [...list, ...more]),
    kill: (id) => setState(id, "failed"),
    onCreate: (f) => Ref.set(hook, f),
    adopt: (machine) =>
      Ref.update(machines, (map) =>
        new Map(map).set(machine.id, {
          machine,
          spec: { taskId: (machine.taskId ?? "") as Ids.TaskId, env: {}, secretEnv: {}, guest: MachineProvisioner.defaultGuest }
        }))
  })
  return { provisioner, controls }
})

/** The provisioner and its `Machines` controls. */
export const layer: Layer.Layer<MachineProvisioner.MachineProvisioner | Machines> = Layer.effectContext(
  Effect.map(make, ({ controls, provisioner }) =>
    Context.make(MachineProvisioner.MachineProvisioner, provisioner).pipe(Context.add(Machines, controls)))
)

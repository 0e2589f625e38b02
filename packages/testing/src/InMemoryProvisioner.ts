/**
 * MachineProvisioner in memory, scriptable: queue faults (errors, lost create answers, delays),
 * kill machines, and hook machine creation to play the runner (see `Machines.onCreate`).
 *
 * `layerWith({ credentialName })` also models provider accounts, as Fly does with per-owner tokens: the provisioner
 * exposes `credentialName`, each machine belongs to the account of the credential it was created with (none: the
 * adapter's own account), and `get`, `list`, `findByTask` and `destroy` see only the machines of the account whose
 * credential they are called with (`destroy` of a machine of another account is a no-op, like destroying an
 * unknown one). `layer` has no accounts: every call sees every machine.
 */
import { Errors, type Ids, MachineProvisioner } from "@porter/core"
import { Clock, Context, Effect, Layer, Option, Redacted, Ref } from "effect"

/** A fault scripted with `Machines.inject`: an error, a lost answer or a delay on one operation. */
export type Fault =
  /** The call fails with this error. */
  | { readonly op: "create" | "get" | "list" | "destroy" | "findByTask"; readonly error: Errors.ProvisionError }
  /** The machine is made, but the answer is lost (the caller sees `error`). */
  | { readonly op: "create"; readonly lostAnswer: true; readonly error: Errors.ProvisionError }
  /** The call takes this long (virtual time under TestClock). */
  | { readonly op: "create" | "destroy"; readonly delayMs: number }

/** A machine `create` made, with the spec it was given (its environment included). */
export interface CreatedMachine {
  readonly machine: MachineProvisioner.Machine
  readonly spec: MachineProvisioner.MachineSpec
}

/** A machine as the provider holds it: with the account it belongs to. */
interface Entry extends CreatedMachine {
  /** The credential's value, or `""` for the adapter's own account (and for every machine without accounts). */
  readonly account: string
}

/** How the in-memory provisioner models provider accounts (see the module header). */
export interface Options {
  /**
   * The secret that holds a per-owner credential (`FLY_API_TOKEN`): set, the provisioner models provider accounts
   * (see the module's header); unset, it has none.
   */
  readonly credentialName?: string
}

/** Controls and inspection for tests. */
export class Machines extends Context.Service<Machines, {
  /** Every machine ever created, with the spec it got (env included), oldest first. */
  readonly created: Effect.Effect<ReadonlyArray<CreatedMachine>>
  /** Live machines now, of every account. */
  readonly live: Effect.Effect<ReadonlyArray<MachineProvisioner.Machine>>
  readonly inject: (...faults: ReadonlyArray<Fault>) => Effect.Effect<void>
  /** The machine dies (as if its process crashed): state `failed`, no callback will come. */
  readonly kill: (id: Ids.MachineId) => Effect.Effect<void>
  /** Runs after each successful create (forked: it may sleep); use it to play the runner. */
  readonly onCreate: (hook: (created: CreatedMachine) => Effect.Effect<void>) => Effect.Effect<void>
  /** Adds a Porter-tagged machine nobody asked for (for orphan sweeps), in the account of `options.credential`. */
  readonly adopt: (machine: MachineProvisioner.Machine, options?: MachineProvisioner.CallOptions) => Effect.Effect<void>
}>()("@porter/testing/Machines") {}

/** The provisioner and its controls; with `options.credentialName`, with provider accounts. */
export const makeWith = Effect.fnUntraced(function*(options: Options = {}) {
  const machines = yield* Ref.make(new Map<string, Entry>())
  const history = yield* Ref.make<Array<CreatedMachine>>([])
  const faults = yield* Ref.make<Array<Fault>>([])
  const hook = yield* Ref.make<((created: CreatedMachine) => Effect.Effect<void>) | undefined>(undefined)
  let counter = 0
  const accounts = options.credentialName !== undefined
  /** The account a call acts in: its credential's, or the adapter's own. */
  const accountOf = (credential: Redacted.Redacted<string> | undefined) =>
    accounts && credential !== undefined ? Redacted.value(credential) : ""
  /** The machines a call with `callOptions` can see. */
  const visible = (callOptions: MachineProvisioner.CallOptions | undefined) =>
    Effect.map(Ref.get(machines), (map) => {
      const account = accountOf(callOptions?.credential)
      return new Map([...map].filter(([, entry]) => entry.account === account))
    })

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
    ...(options.credentialName !== undefined ? { credentialName: options.credentialName } : {}),
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
        const created: CreatedMachine = { machine, spec }
        yield* Ref.update(
          machines,
          (map) => new Map(map).set(machine.id, { ...created, account: accountOf(spec.credential) })
        )
        yield* Ref.update(history, (list) => [...list, created])
        const run = yield* Ref.get(hook)
        if (run) yield* Effect.forkDetach(run(created))
        if (fault !== undefined) return yield* Effect.fail(fault.error)
        return machine
      }),
    get: (id, callOptions) =>
      Effect.gen(function*() {
        yield* applyFault("get")
        const entry = (yield* visible(callOptions)).get(id)
        if (!entry) return yield* new Errors.MachineNotFound({ machineId: id })
        return entry.machine
      }),
    findByTask: (taskId, callOptions) =>
      Effect.gen(function*() {
        yield* applyFault("findByTask")
        const map = yield* visible(callOptions)
        const found = [...map.values()].find((e) =>
          e.machine.taskId === taskId && e.machine.state !== "failed" && !MachineProvisioner.isGone(e.machine.state)
        )
        return Option.map(Option.fromNullishOr(found), (e) => e.machine)
      }),
    list: (callOptions) =>
      Effect.gen(function*() {
        yield* applyFault("list")
        const map = yield* visible(callOptions)
        return MachineProvisioner.liveOldestFirst([...map.values()].map((e) => e.machine))
      }),
    destroy: (id, callOptions) =>
      Effect.gen(function*() {
        yield* applyFault("destroy")
        const account = accountOf(callOptions?.credential)
        yield* Ref.update(machines, (map) => {
          // Another account's machine is as unknown to this credential as a machine that never existed.
          if (map.get(id)?.account !== account) return map
          const next = new Map(map)
          next.delete(id)
          return next
        })
      })
  })

  const controls = Machines.of({
    created: Ref.get(history),
    live: Effect.map(
      Ref.get(machines),
      (map) => MachineProvisioner.liveOldestFirst([...map.values()].map((e) => e.machine))
    ),
    inject: (...more) => Ref.update(faults, (list) => [...list, ...more]),
    kill: (id) => setState(id, "failed"),
    onCreate: (f) => Ref.set(hook, f),
    adopt: (machine, adoptOptions) =>
      Ref.update(machines, (map) =>
        new Map(map).set(machine.id, {
          machine,
          spec: {
            taskId: (machine.taskId ?? "") as Ids.TaskId,
            env: {},
            secretEnv: {},
            guest: MachineProvisioner.defaultGuest,
            ...(adoptOptions?.credential !== undefined ? { credential: adoptOptions.credential } : {})
          },
          account: accountOf(adoptOptions?.credential)
        }))
  })
  return { provisioner, controls }
})

/** The provisioner and its controls, without provider accounts. */
export const make = makeWith()

/** The provisioner and its `Machines` controls; `credentialName` models provider accounts (see the header). */
export const layerWith = (options: Options): Layer.Layer<MachineProvisioner.MachineProvisioner | Machines> =>
  Layer.effectContext(
    Effect.map(
      makeWith(options),
      ({ controls, provisioner }) =>
        Context.make(MachineProvisioner.MachineProvisioner, provisioner).pipe(Context.add(Machines, controls))
    )
  )

/** The provisioner and its `Machines` controls, without provider accounts: every call sees every machine. */
export const layer: Layer.Layer<MachineProvisioner.MachineProvisioner | Machines> = layerWith({})

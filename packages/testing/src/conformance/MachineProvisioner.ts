/**
 * The MachineProvisioner contract, run by every adapter (Fly against the local machines server,
 * Docker against a real dockerd, local processes, in-memory). `spec` lets an adapter give its
 * machines something harmless to run.
 */
import { assert, describe, layer as withLayer } from "@effect/vitest"
import { Ids, MachineProvisioner } from "@porter/core"
import { Effect, Layer, Option, Redacted } from "effect"

/** What the suite adds to each machine's spec for this adapter (image, an idle command…) and how long it waits. */
export interface Options {
  /** Adapter-specific parts of the spec (image, env that makes the machine idle until destroyed). */
  readonly spec?: (taskId: Ids.TaskId) => Partial<MachineProvisioner.MachineSpec>
  readonly timeout?: number
}

const P = MachineProvisioner.MachineProvisioner

/** Registers the `MachineProvisioner` contract's tests against `layer`. */
export const run = <E>(
  name: string,
  layer: Layer.Layer<MachineProvisioner.MachineProvisioner, E>,
  options: Options = {}
) =>
  describe(`MachineProvisioner conformance: ${name}`, () => {
    const specFor = (taskId: Ids.TaskId): MachineProvisioner.MachineSpec => ({
      taskId,
      env: { TASK_ID: taskId, PORTER_CONFORMANCE: "1" },
      secretEnv: { CALLBACK_TOKEN: Redacted.make("conformance-secret") },
      guest: { cpuKind: "shared", cpus: 1, memoryMb: 256 },
      ...options.spec?.(taskId)
    })

    withLayer(layer, { timeout: options.timeout ?? 120_000, excludeTestServices: true })((it) => {
      it.effect("creates a machine tagged with its task, then destroys it", () =>
        Effect.gen(function*() {
          const p = yield* P
          const taskId = yield* Ids.makeTaskId
          const machine = yield* p.create(specFor(taskId))
          assert.strictEqual(machine.taskId, taskId)
          assert.isFalse(MachineProvisioner.isGone(machine.state))
          const got = yield* p.get(machine.id)
          assert.strictEqual(got.id, machine.id)
          assert.strictEqual(got.taskId, taskId)
          const found = yield* p.findByTask(taskId)
          assert.strictEqual(Option.getOrThrow(found).id, machine.id)
          assert.isTrue((yield* p.list()).some((m) => m.id === machine.id))

          yield* p.destroy(machine.id)
          assert.isTrue(Option.isNone(yield* p.findByTask(taskId)))
          assert.isFalse((yield* p.list()).some((m) => m.id === machine.id))
          const after = yield* Effect.result(p.get(machine.id))
          assert.isTrue(
            after._tag === "Failure"
              ? after.failure._tag === "MachineNotFound"
              : MachineProvisioner.isGone(after.success.state),
            "a destroyed machine is gone or unknown"
          )
        }))

      it.effect("destroy is idempotent, also for unknown machines", () =>
        Effect.gen(function*() {
          const p = yield* P
          const taskId = yield* Ids.makeTaskId
          const machine = yield* p.create(specFor(taskId))
          yield* p.destroy(machine.id)
          yield* p.destroy(machine.id)
          yield* p.destroy("m_does_not_exist_0000" as Ids.MachineId)
        }))

      it.effect("findByTask is None for a task without a machine; get of an unknown id is MachineNotFound", () =>
        Effect.gen(function*() {
          const p = yield* P
          assert.isTrue(Option.isNone(yield* p.findByTask(yield* Ids.makeTaskId)))
          const error = yield* Effect.flip(p.get("m_does_not_exist_0000" as Ids.MachineId))
          assert.strictEqual(error._tag, "MachineNotFound")
        }))

      it.effect("keeps machines of different tasks apart", () =>
        Effect.gen(function*() {
          const p = yield* P
          const [a, b] = [yield* Ids.makeTaskId, yield* Ids.makeTaskId]
          const ma = yield* p.create(specFor(a))
          const mb = yield* p.create(specFor(b))
          assert.notStrictEqual(ma.id, mb.id)
          assert.strictEqual(Option.getOrThrow(yield* p.findByTask(a)).id, ma.id)
          assert.strictEqual(Option.getOrThrow(yield* p.findByTask(b)).id, mb.id)
          yield* p.destroy(ma.id)
          assert.strictEqual(Option.getOrThrow(yield* p.findByTask(b)).id, mb.id)
          yield* p.destroy(mb.id)
        }))
    })
  })

/**
 * MachineAccess: how the orchestration reaches a task's machine. A provisioner may take a per-owner credential (a Fly
 * token stored as a secret for a user, a repository, an installation or globally — `MachineProvisioner
 * .credentialName`); this service resolves it for a task, destroys machines with retries, and lists every stored
 * credential so that the orphan sweep also finds machines started with a user's own token.
 */
import { Context, Effect, Layer, Option, Redacted, Schedule, Schema } from "effect"
import { Audit } from "./Audit.ts"
import type { MachineId } from "./Ids.ts"
import { type CallOptions, MachineProvisioner } from "./MachineProvisioner.ts"
import { PorterConfig } from "./PorterConfig.ts"
import { type SecretChain, SecretName, SecretStore } from "./SecretStore.ts"
import type { Task } from "./Task.ts"

/** How the orchestration reaches a task's machine. */
export class MachineAccess extends Context.Service<MachineAccess, {
  /** The secret that holds the provisioner's per-owner credential, if it takes one. */
  readonly credentialName: Option.Option<SecretName>
  /** Call options for the task's machine: its owner's credential, or none (the adapter's own). Never fails. */
  readonly optionsFor: (task: Task) => Effect.Effect<CallOptions>
  /** Destroys the task's machine: retried and audited; a failure is logged and left to the orphan sweep. */
  readonly destroy: (task: Task, machineId: MachineId, options?: CallOptions) => Effect.Effect<void>
  /**
   * The adapter's own credential (`{}`) and every distinct stored credential: the orphan sweep lists machines with
   * each, so machines started with a user's own token are found too.
   */
  readonly everyCredential: Effect.Effect<ReadonlyArray<CallOptions>>
}>()("@porter/core/MachineAccess") {}

/** Who a task's secrets are looked up for: its requester, its repository, its installation, then global. */
export const chainOf = (task: Task): SecretChain => ({
  userId: task.requestedBy.id,
  repo: task.repo.fullName,
  ...(task.installationId !== undefined ? { installationId: task.installationId } : {})
})

/** The `MachineAccess` service, built from its dependencies in the context. */
export const make = Effect.gen(function*() {
  const provisioner = yield* MachineProvisioner
  const secrets = yield* SecretStore
  const audit = yield* Audit
  const { reportRetry } = yield* PorterConfig
  const credentialName = provisioner.credentialName === undefined
    ? Option.none<SecretName>()
    : Schema.decodeUnknownOption(SecretName)(provisioner.credentialName)
  const schedule = Schedule.max([
    Schedule.jittered(Schedule.exponential(reportRetry.baseDelayMs)),
    Schedule.recurs(reportRetry.times)
  ])

  const optionsFor = (task: Task): Effect.Effect<CallOptions> =>
    Option.match(credentialName, {
      onNone: () => Effect.succeed({}),
      onSome: (name) =>
        secrets.resolve(name, chainOf(task)).pipe(
          Effect.map(Option.match({ onNone: () => ({}), onSome: (found) => ({ credential: found.value }) })),
          Effect.catch((error) =>
            Effect.as(Effect.logWarning("could not read the machine credential", { error: error.message }), {})
          )
        )
    })

  const destroy = (task: Task, machineId: MachineId, options?: CallOptions) =>
    Effect.gen(function*() {
      yield* provisioner.destroy(machineId, options ?? (yield* optionsFor(task)))
      yield* audit.record(task.id, "machine_destroyed", machineId)
    }).pipe(
      Effect.retry(schedule),
      Effect.catch((error) =>
        Effect.gen(function*() {
          yield* Effect.logWarning("destroying a machine failed; the orphan sweep will retry", {
            taskId: task.id,
            machineId,
            error: error.message
          })
          yield* audit.record(task.id, "machine_destroy_failed", `${machineId}: ${error.message}`)
        })
      )
    )

  const everyCredential = Option.match(credentialName, {
    onNone: () => Effect.succeed<ReadonlyArray<CallOptions>>([{}]),
    onSome: (name) =>
      Effect.gen(function*() {
        const stored = (yield* secrets.list()).filter((entry) => entry.name === name)
        const seen = new Set<string>()
        const options: Array<CallOptions> = [{}]
        for (const entry of stored) {
          // One credential that cannot be read must not hide the others' machines.
          const value = yield* secrets.get(entry.scope, name).pipe(
            Effect.catch((error) =>
              Effect.as(
                Effect.logWarning("a machine credential cannot be read", {
                  scope: entry.scope._tag,
                  error: error.message
                }),
                Option.none()
              )
            )
          )
          if (Option.isNone(value) || seen.has(Redacted.value(value.value))) continue
          seen.add(Redacted.value(value.value))
          options.push({ credential: value.value })
        }
        return options
      }).pipe(
        Effect.catch((error) =>
          Effect.as(Effect.logWarning("could not list the machine credentials", { error: error.message }), [{}])
        )
      )
  })

  return MachineAccess.of({ credentialName, optionsFor, destroy, everyCredential })
})

/** `MachineAccess` as a layer (`make`). */
export const layer: Layer.Layer<MachineAccess, never, MachineProvisioner | SecretStore | Audit | PorterConfig> = Layer
  .effect(MachineAccess, make)

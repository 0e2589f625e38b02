/**
 * The secret values nothing a task's machine sends may hold — the deployment's own (`HostSecrets`), every stored
 * secret of the task's chain, and the task's two credentials — in one place for the change set's check
 * (`ChangeSets`) and the redaction of what Porter keeps (`Artifacts`). Values only: a finding names the secret.
 */
import { Context, Effect, Redacted } from "effect"
import { chainOf } from "./MachineAccess.ts"
import { type ResolvedSecret, type SecretName, SecretStore } from "./SecretStore.ts"
import type { Task } from "./Task.ts"
import { TaskTokens } from "./TaskTokens.ts"

/**
 * Secret values of the deployment itself (its webhook secret, admin token, provider tokens…), which a change set must
 * not hold. Hosts provide theirs; stored secrets and the task's own credentials are added per task.
 */
export const HostSecrets = Context.Reference<
  ReadonlyArray<{ readonly name: string; readonly value: Redacted.Redacted<string> }>
>(
  "@porter/core/ChangeSets/HostSecrets",
  { defaultValue: () => [] }
)

/** A secret value and the name a finding reports it by (never the value). */
export interface NamedValue {
  readonly name: string
  readonly value: string
}

/** Every secret value of `task`'s chain and of the deployment, and the task's credentials (a store failure: none of the stored). */
export const valuesFor = Effect.fnUntraced(function*(task: Task) {
  const secrets = yield* SecretStore
  const tokens = yield* TaskTokens
  const stored = yield* secrets.list().pipe(Effect.orElseSucceed(() => []))
  const names = [...new Set(stored.map((entry) => entry.name))] as Array<SecretName>
  const resolved = yield* secrets.resolveAll(names, chainOf(task)).pipe(
    Effect.orElseSucceed((): ReadonlyMap<SecretName, ResolvedSecret> => new Map())
  )
  const values: ReadonlyArray<NamedValue> = [
    ...(yield* HostSecrets).map(({ name, value }) => ({ name, value: Redacted.value(value) })),
    ...[...resolved].map(([name, found]) => ({ name, value: Redacted.value(found.value) })),
    { name: "the task's token", value: Redacted.value(yield* tokens.issue(task.id)) },
    { name: "the task's gateway credential", value: Redacted.value(yield* tokens.issue(task.id, "gateway")) }
  ]
  return values
})

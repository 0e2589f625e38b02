/**
 * Authorizer: may this GitHub user trigger runs on this repository? The GitHub adapter checks the
 * collaborator permission (admin, maintain or write may run). Settings' allow/deny lists apply on
 * top, in the orchestration.
 */
import { Context, Effect, Layer } from "effect"
import type { AuthorizationError } from "./Errors.ts"
import type { Actor, RepoRef } from "./Repo.ts"

/** A GitHub user's permission on a repository, strongest first. */
export type Permission = "admin" | "maintain" | "write" | "triage" | "read" | "none"

/** Whether `permission` may start tasks (write access or more). */
export const mayRun = (permission: Permission): boolean =>
  permission === "admin" || permission === "maintain" || permission === "write"

/** Whether an actor may use Porter on a repository, with their permission (and why not). */
export type Decision =
  | { readonly allowed: true; readonly permission: Permission }
  | { readonly allowed: false; readonly permission: Permission; readonly reason: string }

/** Decides who may use Porter on a repository (by default: GitHub write access). */
export class Authorizer extends Context.Service<Authorizer, {
  readonly authorize: (
    repo: RepoRef,
    actor: Actor,
    installationId?: number
  ) => Effect.Effect<Decision, AuthorizationError>
}>()("@porter/core/Authorizer") {}

/** Everyone may run (tests, single-user local setups). */
export const layerAllowAll: Layer.Layer<Authorizer> = Layer.succeed(
  Authorizer,
  Authorizer.of({ authorize: () => Effect.succeed({ allowed: true, permission: "admin" }) })
)

/** A fixed table of permissions by login (tests); unknown logins get `none`. */
export const layerTable = (table: Readonly<Record<string, Permission>>): Layer.Layer<Authorizer> =>
  Layer.succeed(
    Authorizer,
    Authorizer.of({
      authorize: (_repo, actor) => {
        const permission = table[actor.login] ?? "none"
        return Effect.succeed(
          mayRun(permission)
            ? { allowed: true, permission }
            : { allowed: false, permission, reason: `@${actor.login} has ${permission} access` }
        )
      }
    })
  )

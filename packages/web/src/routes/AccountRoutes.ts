/**
 * The user's own keys (`/app/keys`: the `user:<id>` scope of `SecretStore`, set, replace, delete; only fingerprints
 * shown), the installations overview (`/app/installations`), a repository's settings for its admins
 * (`/app/repos/:owner/:repo/settings`, through core's `Settings` and its `SettingsPatch` schema) and the operator page
 * (`/app/operator`: `Diagnostics.report`, `SecretStore.rotate`). What the user may not use answers 404.
 */
import { AgentCatalog, Diagnostics, MachineAccess, SecretStore, Settings, TaskStore } from "@porter/core"
import { Clock, Effect, Option, Redacted, Schema } from "effect"
import { HttpRouter } from "effect/http"
import { canConfigure, readable } from "../Access.ts"
import type { RepoAccess } from "../GitHubAccounts.ts"
import * as InstallationsPage from "../pages/InstallationsPage.ts"
import * as KeysPage from "../pages/KeysPage.ts"
import * as OperatorPage from "../pages/OperatorPage.ts"
import * as SettingsPage from "../pages/SettingsPage.ts"
import { SessionKeys } from "../SessionKeys.ts"
import { type Context, field, type Guard, htmlResponse, NotFound, redirect } from "../WebHttp.ts"

const decodeName = Schema.decodeUnknownOption(SecretStore.SecretName)
const MAX_VALUE = 16_384
/** Tasks read per repository for the month's spend (newest first). */
const SPEND_SCAN = 1_000

const monthStart = (now: number) => {
  const d = new Date(now)
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1)
}

export const routes = (guard: Guard) =>
  HttpRouter.use(
    Effect.fn("WebApp.accountRoutes")(function*(router) {
      const secrets = yield* SecretStore.SecretStore
      const settings = yield* Settings.Settings
      const store = yield* TaskStore.TaskStore
      const diagnostics = yield* Diagnostics.Diagnostics
      const catalog = yield* AgentCatalog.AgentCatalog
      const machines = yield* MachineAccess.MachineAccess
      const keys = yield* SessionKeys
      const agents = catalog.list.map((agent) => agent.name)
      const suggestions = [
        ...new Set([
          ...catalog.list.flatMap((agent) => agent.secrets.flatMap((secret) => secret.names)),
          ...Option.toArray(machines.credentialName)
        ])
      ].sort()

      // --- My keys ------------------------------------------------------------------------------------------------

      const keysPage = (context: Context, notices: { message?: string; problem?: string } = {}, status = 200) =>
        Effect.gen(function*() {
          const scope = SecretStore.scopes.user(context.viewer.userId)
          const listed = yield* secrets.list(scope)
          const rows = yield* Effect.forEach(listed, (entry) =>
            Effect.gen(function*() {
              const name = Option.getOrUndefined(decodeName(entry.name))
              const value = name === undefined
                ? Option.none()
                : yield* Effect.orElseSucceed(secrets.get(scope, name), () => Option.none<Redacted.Redacted<string>>())
              const fingerprint = Option.isSome(value)
                ? (yield* keys.digest(Redacted.value(value.value))).slice(0, 8)
                : undefined
              return { name: entry.name, fingerprint, updatedAt: entry.updatedAt } satisfies KeysPage.KeyRow
            }))
          return htmlResponse(KeysPage.render({ frame: context.frame, keys: rows, suggestions, ...notices }), status)
        })

      yield* router.add("GET", "/app/keys", (request) =>
        guard.page(request, (context) => {
          const saved = context.url.searchParams.get("saved")
          const deleted = context.url.searchParams.get("deleted")
          const known = (name: string | null) => name !== null && Option.isSome(decodeName(name))
          return keysPage(context, {
            ...(known(saved) ? { message: `Saved ${saved}.` } : {}),
            ...(known(deleted) ? { message: `Deleted ${deleted}.` } : {})
          })
        }))

      yield* router.add("POST", "/app/keys", (request) =>
        guard.action(request, (context, form) =>
          Effect.gen(function*() {
            const name = decodeName(field(form, "name") ?? "")
            const value = form["value"] ?? ""
            if (Option.isNone(name)) {
              return yield* keysPage(context, {
                problem: "A key's name is capitals, digits and _ (like ANTHROPIC_API_KEY)."
              }, 422)
            }
            if (value.trim().length === 0 || value.length > MAX_VALUE) {
              return yield* keysPage(context, { problem: `A key's value is 1 to ${MAX_VALUE} characters.` }, 422)
            }
            yield* secrets.set(SecretStore.scopes.user(context.viewer.userId), name.value, Redacted.make(value.trim()))
            return redirect(`/app/keys?saved=${name.value}`)
          })))

      yield* router.add("POST", "/app/keys/delete", (request) =>
        guard.action(request, (context, form) =>
          Effect.gen(function*() {
            const name = decodeName(field(form, "name") ?? "")
            if (Option.isNone(name)) {
              return yield* new NotFound()
            }
            yield* secrets.delete(SecretStore.scopes.user(context.viewer.userId), name.value)
            return redirect(`/app/keys?deleted=${name.value}`)
          })))

      // --- Installations ------------------------------------------------------------------------------------------

      const repoLine = (fullName: string, permission: string, configurable: boolean, since: number) =>
        Effect.gen(function*() {
          const active = yield* store.listActive({ repo: fullName })
          let spendUsd = 0
          let tasks = 0
          let before: TaskStore.ListOptions["before"]
          for (let read = 0; read < SPEND_SCAN; read += 200) {
            const page = yield* store.list({ repo: fullName, limit: 200, ...(before !== undefined ? { before } : {}) })
            const recent = page.filter((task) =>
              task.createdAt >= since
            )
            tasks += recent.length
            spendUsd += recent.reduce((sum, task) =>
              sum + (task.usage?.costUsd ?? 0), 0)
            if (recent.length < page.length || page.length < 200) {
              break
            }
            before = page.at(-1)!.id
          }
          return {
            fullName,
            permission,
            canConfigure: configurable,
            active: active.length,
            machines: active.filter((task) =>
              task.machineId !== undefined
            ).length,
            spendUsd,
            tasks
          } satisfies InstallationsPage.RepoLine
        })

      yield* router.add("GET", "/app/installations", (request) =>
        guard.page(request, (context) =>
          Effect.gen(function*() {
            const now = yield* Clock.currentTimeMillis
            const since = monthStart(now)
            const byInstallation = new Map<number, Array<RepoAccess>>()
            for (const repo of readable(context.viewer)) {
              byInstallation.set(repo.installationId, [...(byInstallation.get(repo.installationId) ?? []), repo])
            }
            const installations = yield* Effect.forEach([...byInstallation], ([id, repos]) =>
              Effect.map(
                Effect.forEach(repos, (repo) =>
                  repoLine(repo.fullName, repo.permission, canConfigure(context.viewer, repo.fullName), since), {
                  concurrency: 4
                }),
                (lines) => ({ id, account: repos[0]!.fullName.split("/")[0]!, repos: lines })
              ))
            const month = new Date(since).toLocaleString("en-US", { month: "long", year: "numeric", timeZone: "UTC" })
            return htmlResponse(InstallationsPage.render({ frame: context.frame, installations, month }))
          })))

      // --- Repository settings ------------------------------------------------------------------------------------

      const settingsPage = (
        context: Context,
        repo: string,
        notices: { message?: string | undefined; problem?: string | undefined } = {},
        status = 200
      ) =>
        Effect.gen(function*() {
          const access = context.viewer.repos.get(repo.toLowerCase())
          if (access === undefined || !canConfigure(context.viewer, repo)) {
            return yield* new NotFound()
          }
          const scope = { _tag: "repository" as const, repo: access.fullName }
          const stored = yield* settings.get(scope)
          const effective = yield* settings.forRepo(access.fullName, access.installationId)
          return htmlResponse(
            SettingsPage.render({ frame: context.frame, repo: access.fullName, stored, effective, agents, ...notices }),
            status
          )
        })

      const repoOf = Effect.map(HttpRouter.params, (params) =>
        `${params["owner"] ?? ""}/${params["repo"] ?? ""}`)

      yield* router.add("GET", "/app/repos/:owner/:repo/settings", (request) =>
        Effect.flatMap(repoOf, (repo) =>
          guard.page(request, (context) =>
            settingsPage(
              context,
              repo,
              context.url.searchParams.get("done") === "saved" ? { message: "Saved." } : {}
            ))))

      yield* router.add("POST", "/app/repos/:owner/:repo/settings", (request) =>
        Effect.flatMap(repoOf, (repo) =>
          guard.action(request, (context, form) =>
            Effect.gen(function*() {
              const access = context.viewer.repos.get(repo.toLowerCase())
              if (access === undefined || !canConfigure(context.viewer, repo)) {
                return yield* new NotFound()
              }
              const patch = yield* Effect.result(SettingsPage.decodeForm(form))
              if (patch._tag === "Failure") {
                return yield* settingsPage(context, repo, { problem: patch.failure }, 422)
              }
              const scope = { _tag: "repository" as const, repo: access.fullName }
              // The form is the whole repository scope: what is blank is no longer set here.
              yield* settings.delete(scope)
              if (Object.keys(patch.success).length > 0) {
                yield* settings.set(scope, patch.success)
              }
              return redirect(`/app/repos/${access.fullName}/settings?done=saved`)
            }))))

      // --- Operator -----------------------------------------------------------------------------------------------

      yield* router.add("GET", "/app/operator", (request) =>
        guard.page(request, (context) =>
          Effect.gen(function*() {
            if (!context.viewer.operator) {
              return yield* new NotFound()
            }
            return htmlResponse(OperatorPage.render({ frame: context.frame, doctor: yield* diagnostics.report }))
          })))

      yield* router.add("POST", "/app/operator/rotate", (request) =>
        guard.action(request, (context) =>
          Effect.gen(function*() {
            if (!context.viewer.operator) {
              return yield* new NotFound()
            }
            const rotation = yield* secrets.rotate()
            yield* Effect.logInfo("web: keys rotated", { by: context.viewer.login, rotated: rotation.rotated })
            return htmlResponse(
              OperatorPage.render({ frame: context.frame, doctor: yield* diagnostics.report, rotation })
            )
          })))
    })
  )

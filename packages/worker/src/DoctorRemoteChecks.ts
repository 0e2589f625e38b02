/**
 * The doctor's checks that call other services: GitHub (the App's key signs a JWT GitHub accepts, or a personal
 * token works) and Fly (the deploy-wide token is accepted for `FLY_APP_NAME`). With `offline` they check only what
 * the variables show; `Doctor.run` gives each a timeout. Kept apart from `Doctor`'s local checks: these are the ones
 * that need credentials and a network.
 */
import { FlyMachines } from "@porter/fly"
import { AppJwt, GitHubClient } from "@porter/github"
import { Effect, Redacted, Schema } from "effect"
import { fail, pass, skip, text, warn } from "./DoctorCheck.ts"

const AppInfo = Schema.Struct({ slug: Schema.String })
const UserInfo = Schema.Struct({ login: Schema.String })

/** The App id and private key: the key signs a JWT and GitHub accepts it (`GET /app`); else a personal token works. */
export const github = (env: Readonly<Record<string, unknown>>, offline: boolean) =>
  Effect.gen(function*() {
    const name = "GitHub"
    const apiUrl = text(env, "GITHUB_API_URL") ?? GitHubClient.DEFAULT_API_URL
    const appId = text(env, "GITHUB_APP_ID")
    const key = text(env, "GITHUB_APP_PRIVATE_KEY")
    const token = text(env, "GITHUB_TOKEN")
    const client = yield* GitHubClient.make({ apiUrl, retry: { times: 0 } })
    if (appId === undefined) {
      if (token === undefined) {
        return fail(
          name,
          "no GitHub credentials: set GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY (secrets) for " +
            "Porter's GitHub App (see the README's Deploy section), or GITHUB_TOKEN for a single-user setup"
        )
      }
      if (offline) return skip(name, "personal access token set (GITHUB_TOKEN); not checked offline")
      const user = yield* client.request("GET /user", { token: Redacted.make(token), schema: UserInfo }).pipe(
        Effect.result
      )
      return user._tag === "Success"
        ? warn(
          name,
          `personal access token of @${user.success.data.login}: every machine gets this token, which ` +
            "cannot be scoped to one repository; prefer a GitHub App"
        )
        : fail(
          name,
          `GitHub refused GITHUB_TOKEN (${user.failure.message}): create a new token and ` +
            "`wrangler secret put GITHUB_TOKEN`"
        )
    }
    if (!/^\d+$/.test(appId)) return fail(name, "GITHUB_APP_ID must be the App's numeric id (App settings → About)")
    if (key === undefined) {
      return fail(
        name,
        "GITHUB_APP_PRIVATE_KEY is not set: generate a private key in the App settings and " +
          "`wrangler secret put GITHUB_APP_PRIVATE_KEY < porter.private-key.pem`"
      )
    }
    const imported = yield* AppJwt.importPrivateKey(key).pipe(Effect.result)
    if (imported._tag === "Failure") {
      return fail(
        name,
        `${imported.failure.message}: put the .pem file GitHub gave you, unchanged, into ` +
          "GITHUB_APP_PRIVATE_KEY"
      )
    }
    const jwt = yield* AppJwt.sign(imported.success, appId, Date.now())
    if (offline) return pass(name, `App ${appId}: the private key parses and signs a JWT (not sent: offline)`)
    const app = yield* client.request("GET /app", { token: Redacted.make(jwt.token), schema: AppInfo }).pipe(
      Effect.result
    )
    if (app._tag === "Success") {
      return pass(name, `App ${appId} (${app.success.data.slug}): the private key signs JWTs GitHub accepts`)
    }
    const status = app.failure.status
    return fail(
      name,
      status === 401
        ? `GitHub refused the App JWT for App ${appId} (401): the private key does not belong to that App id; ` +
          "check GITHUB_APP_ID and generate a new private key in the App settings"
        : `could not reach GitHub at ${apiUrl} (${app.failure.message}); check GITHUB_API_URL`
    )
  })

/** `FLY_APP_NAME` and the deploy-wide `FLY_API_TOKEN`: one authenticated list call. */
export const fly = (env: Readonly<Record<string, unknown>>, offline: boolean) =>
  Effect.gen(function*() {
    const name = "Fly"
    const options = yield* FlyMachines.config.pipe(Effect.result)
    if (options._tag === "Failure") {
      return fail(
        name,
        "FLY_APP_NAME is not set: the Fly app the machines run in (`fly apps create <name>`), in " +
          "wrangler.jsonc `vars`"
      )
    }
    if (options.success.token === undefined) {
      return fail(
        name,
        "FLY_API_TOKEN is not set: without a deploy-wide token every user must set their own " +
          "(`porter secrets set FLY_API_TOKEN`) and orphan machines are never swept. " +
          `\`fly tokens create deploy -a ${options.success.app} | wrangler secret put FLY_API_TOKEN\``
      )
    }
    if (offline) return skip(name, `token set for app ${options.success.app}; not checked offline`)
    const machines = yield* FlyMachines.make({
      ...options.success,
      retry: { attempts: 1 },
      requestTimeoutMs: 10_000
    })
    const listed = yield* machines.list().pipe(Effect.result)
    if (listed._tag === "Success") {
      return pass(
        name,
        `the token is accepted for app ${options.success.app} (${listed.success.length} Porter machine(s) running)`
      )
    }
    return fail(name, listed.failure.message)
  })

/**
 * A local GitHub for tests and local runs: one HTTP server on loopback that is both the REST API
 * root (`GITHUB_API_URL`) and the git host (`${url}/owner/repo.git`, smart HTTP through
 * `git http-backend`), with a GitHub App installed on every account that receives webhooks.
 *
 * It covers what Porter touches — users, tokens and App auth, repositories, issues, comments,
 * reactions, labels, pull requests, review comments, collaborators, branches and commits, the Git
 * Data API (blobs, trees, commits, refs), reading contents, and check suites, check runs, workflow runs and
 * job logs (read side; a test completes a suite: `completeCheckSuite`) — and answers with GitHub's JSON
 * shapes, status codes and errors (checked against GitHub's OpenAPI description in the tests). Not
 * emulated: forks, merges, reviews other than line comments, search, GraphQL, check writes, statuses,
 * releases, contents writes, `push` webhooks, rate limiting, fine-grained PATs.
 * State lives in memory; only the bare repositories are on disk. See README.md for details.
 *
 * Node only (`node:http`, `node:child_process`, the `git` CLI).
 */
import { Context, Effect, Exit, FiberSet, Layer, Scope } from "effect"
import { generateKeyPair, randomBytes } from "node:crypto"
import type { KeyObject } from "node:crypto"
import { rmSync } from "node:fs"
import { mkdir, mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import * as path from "node:path"
import * as Checks from "./Checks.ts"
import type { RouteContext, TreeLimits } from "./Context.ts"
import { GITHUB_TREE_LIMITS } from "./Context.ts"
import { makeGitDataLog } from "./GitDataLog.ts"
import type { GitDataWrite } from "./GitDataLog.ts"
import type { Route } from "./Http.ts"
import { notFound } from "./Http.ts"
import * as ObjectStore from "./ObjectStore.ts"
import { makePayloads } from "./Payloads.ts"
import * as AppsRoutes from "./routes/Apps.ts"
import * as ChecksRoutes from "./routes/Checks.ts"
import * as ContentsRoutes from "./routes/Contents.ts"
import * as EmulatorRoutes from "./routes/Emulator.ts"
import * as GistsRoutes from "./routes/Gists.ts"
import * as GitDataRoutes from "./routes/GitData.ts"
import * as GitRefsRoutes from "./routes/GitRefs.ts"
import * as IssuesRoutes from "./routes/Issues.ts"
import * as LabelsRoutes from "./routes/Labels.ts"
import * as OAuthRoutes from "./routes/OAuth.ts"
import { makePullCommits } from "./routes/PullCommits.ts"
import type { PullRequestCommit } from "./routes/PullCommits.ts"
import * as PullsRoutes from "./routes/Pulls.ts"
import * as ReposRoutes from "./routes/Repos.ts"
import { serve } from "./Server.ts"
import { LOGIN, makeState } from "./State.ts"
import * as Webhooks from "./Webhooks.ts"

export type { SuiteInput } from "./Checks.ts"
export type { TreeLimits } from "./Context.ts"
export type { GitDataOperation, GitDataWrite } from "./GitDataLog.ts"
export { type Person, rest } from "./Rest.ts"
export type { PullRequestCommit } from "./routes/PullCommits.ts"

/** How the GitHub emulator starts: port, webhook URL and secret, App slug, data directory, admin login, tree limits. */
export interface EmulatorOptions {
  /** Default 0: a free port on 127.0.0.1. */
  readonly port?: number
  /**
   * Added to every id the emulator hands out (accounts, repositories, issues, comments…; default 0). An emulator
   * started again beside state kept from an earlier one (`porter dev --data-dir`) gives a new base, so that its ids
   * never repeat those the kept state knows (GitHub's never do).
   */
  readonly idBase?: number
  /** Where the App's webhooks go; can be set later with `setWebhook`. */
  readonly webhookUrl?: string
  /** Default: random. */
  readonly webhookSecret?: string
  /** Default "porter": its bot is "porter[bot]". */
  readonly appSlug?: string
  /** Where the bare repositories live; default: a temporary directory removed on close. */
  readonly dataDir?: string
  /** The login of the site admin who owns the App (default "admin"). */
  readonly adminLogin?: string
  /**
   * What a tree listing (`GET …/git/trees/{tree_sha}`, recursive or not) holds at most before GitHub answers it
   * `truncated: true` with the entries that fit: 100,000 entries and 7 MB of JSON by default, as on GitHub. Smaller
   * values let tests reach truncation with small repositories.
   */
  readonly treeLimits?: Partial<TreeLimits>
}

/** A webhook delivery attempt the emulator made (or would have made, without a webhook URL). */
export interface Delivery {
  /** The `X-GitHub-Delivery` GUID (shared by redeliveries). */
  readonly id: string
  /** GitHub's numeric id of this attempt (`/app/hook/deliveries/{delivery_id}`). */
  readonly deliveryId: number
  readonly event: string
  readonly action?: string | undefined
  /** The receiver's HTTP status; absent when nothing was sent (no webhook URL) or the request failed. */
  readonly status?: number | undefined
  /** Why an attempt failed without a status ("timed out", "failed to connect: …"). */
  readonly error?: string | undefined
  readonly durationMs?: number | undefined
  readonly redelivery: boolean
  readonly deliveredAt?: string | undefined
  readonly headers: Readonly<Record<string, string>>
  readonly payload: unknown
}

/** A running GitHub emulator: its URL, the admin account, the App, and its controls. */
export interface Emulator {
  /** "http://127.0.0.1:PORT": REST root and git base (clone URL of o/r: `${url}/o/r.git`). */
  readonly url: string
  /** Site admin: owns the App, may do anything, creates organizations on first use. */
  readonly admin: { readonly login: string; readonly id: number; readonly token: string }
  readonly app: {
    readonly id: number
    readonly slug: string
    readonly clientId: string
    readonly botLogin: string
    readonly botId: number
    /** PEM "-----BEGIN RSA PRIVATE KEY-----", like GitHub hands out. */
    readonly privateKeyPkcs1: string
    readonly webhookSecret: string
  }
  /** The App's OAuth web flow (`/login/oauth/…`, see `routes/OAuth.ts`): its client secret, and who approves. */
  readonly oauth: {
    readonly clientId: string
    readonly clientSecret: string
    /** The user who approves at once when the browser is signed in as nobody; `undefined`: the sign-in page. */
    readonly signInAs: (login: string | undefined) => void
  }
  /** The directory holding the bare repositories (`<dataDir>/<owner>/<repo>.git`). */
  readonly dataDir: string
  readonly setWebhook: (url: string, secret?: string) => Promise<void>
  readonly createUser: (
    login: string
  ) => Promise<{ readonly login: string; readonly id: number; readonly token: string }>
  /** Every delivery attempt so far, oldest first, once pending deliveries are done. */
  readonly deliveries: () => Promise<ReadonlyArray<Delivery>>
  /** Resends with the same `X-GitHub-Delivery`; the receiver's HTTP status (0 when it failed). */
  readonly redeliver: (deliveryId: string) => Promise<number>
  /** Every write through the Git Data API (blobs, trees, commits, references), oldest first. */
  readonly gitDataLog: () => Promise<ReadonlyArray<GitDataWrite>>
  /**
   * A pull request's commits, oldest first, with whether each was made through the Git Data API and
   * how it is verified (rejects for an unknown repository or pull request).
   */
  readonly pullRequestCommits: (
    owner: string,
    repo: string,
    number: number
  ) => Promise<ReadonlyArray<PullRequestCommit>>
  /**
   * Completes a check suite on `owner/repo`'s branch head with the runs given (`Checks.SuiteInput`: by default a GitHub
   * Actions workflow run "CI" whose jobs have logs) and sends GitHub's webhooks for it: `workflow_run` then
   * `check_suite`, both `completed` (also `POST /_emulator/repos/{owner}/{repo}/check-suites`).
   */
  readonly completeCheckSuite: (owner: string, repo: string, input: Checks.SuiteInput) => Promise<{
    readonly checkSuiteId: number
    readonly workflowRunId: number | undefined
    readonly headSha: string
    readonly checkRunIds: ReadonlyArray<number>
  }>
  readonly close: () => Promise<void>
}

const makeKeys = () =>
  Effect.promise(() =>
    new Promise<{ readonly privateKeyPkcs1: string; readonly publicKey: KeyObject }>((resolve, reject) =>
      generateKeyPair("rsa", { modulusLength: 2048 }, (error, publicKey, privateKey) => {
        if (error) reject(error)
        else resolve({ privateKeyPkcs1: String(privateKey.export({ type: "pkcs1", format: "pem" })), publicKey })
      })
    )
  )

/** Starts the emulator; it stops when the scope closes (or on `close()`). */
export const start = (options: EmulatorOptions = {}): Effect.Effect<Emulator, never, Scope.Scope> =>
  Effect.gen(function*() {
    const adminLogin = options.adminLogin ?? "admin"
    const appSlug = options.appSlug ?? "porter"
    if (!LOGIN.test(adminLogin) || !LOGIN.test(appSlug)) {
      return yield* Effect.die(new Error("adminLogin and appSlug must be valid GitHub logins"))
    }
    const scope = yield* Scope.fork(yield* Effect.scope)
    const emulator = yield* Effect.gen(function*() {
      const dataDir = options.dataDir
        ? yield* Effect.promise(async () => {
          await mkdir(options.dataDir!, { recursive: true })
          return path.resolve(options.dataDir!)
        })
        : yield* Effect.acquireRelease(
          Effect.promise(async () => {
            const dir = await mkdtemp(path.join(tmpdir(), "porter-github-"))
            // A safety net for runs killed before the scope closes (a timed-out test worker).
            const onExit = () => rmSync(dir, { recursive: true, force: true })
            process.once("exit", onExit)
            return { dir, onExit }
          }),
          ({ dir, onExit }) =>
            Effect.promise(async () => {
              process.removeListener("exit", onExit)
              await rm(dir, { recursive: true, force: true })
            })
        ).pipe(Effect.map(({ dir }) => dir))
      // The repositories' object readers (`ObjectStore.ts`) end before their directory goes.
      yield* Effect.addFinalizer(() => Effect.sync(() => ObjectStore.closeUnder(dataDir)))
      const keys = yield* makeKeys()

      const state = makeState({
        dataDir,
        adminLogin,
        appSlug,
        privateKeyPkcs1: keys.privateKeyPkcs1,
        publicKey: keys.publicKey,
        webhookUrl: options.webhookUrl,
        webhookSecret: options.webhookSecret ?? randomBytes(20).toString("hex"),
        idBase: options.idBase
      })
      const webhooks = yield* Webhooks.make(state)
      const served = yield* serve({ state, dataDir, port: options.port ?? 0 })
      const url = `http://127.0.0.1:${served.port}`
      const gitData = makeGitDataLog(state.now)
      const payloads = makePayloads(state, url, gitData)
      const events = Webhooks.makeEvents(state, payloads, webhooks)
      const checks = Checks.make(state, payloads, events)
      const context: RouteContext = {
        state,
        payloads,
        webhooks,
        events,
        checks,
        gitData,
        baseUrl: url,
        treeLimits: { ...GITHUB_TREE_LIMITS, ...options.treeLimits }
      }
      const pullCommits = makePullCommits(context)
      const oauth = OAuthRoutes.make(context)
      const pullRequestCommits = (owner: string, repo: string, number: number) =>
        Effect.suspend(() => {
          const pr = state.repo(owner, repo) && state.issue(state.repo(owner, repo)!, number)
          return pr?.pull ? pullCommits.view(pr) : Effect.fail(notFound())
        })
      const routes: Array<Route> = [
        ...AppsRoutes.routes(context),
        ...oauth.routes,
        ...ReposRoutes.routes(context),
        ...IssuesRoutes.routes(context),
        ...LabelsRoutes.routes(context),
        ...PullsRoutes.routes(context),
        ...pullCommits.routes,
        ...GitDataRoutes.routes(context),
        ...GitRefsRoutes.routes(context),
        ...ContentsRoutes.routes(context),
        ...ChecksRoutes.routes(context),
        ...GistsRoutes.routes(context)
      ]
      routes.push(...EmulatorRoutes.routes(context, () => routes, pullRequestCommits))
      yield* served.addRoutes(routes)
      const run = yield* FiberSet.makeRuntimePromise<never>()

      const result: Emulator = {
        url,
        admin: { login: state.admin.login, id: state.admin.id, token: state.adminToken },
        app: {
          id: state.app.id,
          slug: state.app.slug,
          clientId: state.app.clientId,
          botLogin: state.app.bot.login,
          botId: state.app.bot.id,
          privateKeyPkcs1: state.app.privateKeyPkcs1,
          get webhookSecret() {
            return state.app.webhookSecret
          }
        },
        oauth: { clientId: state.app.clientId, clientSecret: oauth.clientSecret, signInAs: oauth.signInAs },
        dataDir,
        setWebhook: (target, secret) =>
          run(Effect.sync(() => {
            state.app.webhookUrl = target
            if (secret !== undefined) state.app.webhookSecret = secret
          })),
        createUser: (login) =>
          run(Effect.suspend(() => {
            const created = state.createUser(login)
            return created
              ? Effect.succeed({ login: created.account.login, id: created.account.id, token: created.token })
              : Effect.die(new Error(`"${login}" is not a valid login, or belongs to an organization`))
          })),
        deliveries: () => run(Effect.map(webhooks.flush, () => webhooks.list().map(EmulatorRoutes.deliveryView))),
        redeliver: (deliveryId) =>
          run(Effect.flatMap(webhooks.redeliver(deliveryId), (attempt) =>
            attempt
              ? Effect.succeed(attempt.status ?? 0)
              : Effect.die(new Error(`no delivery ${deliveryId}`)))),
        gitDataLog: () => run(Effect.sync(() => gitData.list())),
        pullRequestCommits: (owner, repo, number) =>
          run(
            pullRequestCommits(owner, repo, number).pipe(
              Effect.catch(() => Effect.die(new Error(`no pull request ${owner}/${repo}#${number}`)))
            )
          ),
        completeCheckSuite: (owner, repo, input) =>
          run(Effect.suspend(() => {
            const found = state.repo(owner, repo)
            return found
              ? checks.complete(found, input).pipe(
                Effect.catch(() => Effect.die(new Error(`${owner}/${repo} has no branch ${input.branch}`)))
              )
              : Effect.die(new Error(`no repository ${owner}/${repo}`))
          })),
        close: () => Effect.runPromise(Scope.close(scope, Exit.void))
      }
      return result
    }).pipe(Scope.provide(scope))
    return emulator
  })

/** Starts the emulator outside Effect (CLI, scripts, benches); stop it with `close()`. */
export const startPromise = (options: EmulatorOptions = {}): Promise<Emulator> =>
  Effect.runPromise(Effect.flatMap(Scope.make(), (scope) => Scope.provide(start(options), scope)))

/** The emulator as a service, for Effect programs and tests that share one across a layer. */
export class GitHubEmulator
  extends Context.Service<GitHubEmulator, Emulator>()("@porter/testkit/github/GitHubEmulator")
{}

/** A layer holding a running emulator; it stops when the layer's scope closes. */
export const layer = (options: EmulatorOptions = {}): Layer.Layer<GitHubEmulator> =>
  Layer.effect(GitHubEmulator, start(options))

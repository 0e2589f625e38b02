/**
 * `porter dev`: the whole stack on this machine (`LocalStack`) until SIGINT/SIGTERM, then everything is shut
 * down (workerd, every machine, the emulator, temporary directories).
 *
 * - With the GitHub emulator (default) it also creates the sample repository `<admin>/hello` with an issue, so
 *   `@porter …` comments work at once; its admin user (token in the output) owns it and may create users,
 *   repositories and issues. `--no-github` uses the GitHub given in the environment instead.
 * - Prints the URLs, then tails a readable log: task transitions (from the admin API), machine starts, exits
 *   and output lines, and the Worker's warnings and errors.
 * - `--json`: the first line of stdout is exactly one JSON object
 *   `{"worker","github","githubAdminToken","machines","webhookSecret","owner"}` (the last two GitHub fields
 *   are `null` with `--no-github`); the log follows.
 * - Fires the Worker's Cron Trigger (the watchdog sweep) every minute, as Cloudflare would.
 * - `--data-dir DIR` keeps the Worker's state across restarts: its D1 (tasks, deliveries, the audit trail, secrets,
 *   settings) in `DIR/v3/d1` (wrangler's `--persist-to` layout), the encryption key that seals the secrets and signs
 *   the machines' callback tokens, and the admin token (unless one is given). The GitHub emulator and the machines
 *   start afresh each time (the sample repository is made again; the emulator's ids start past the earlier runs', so
 *   a new comment is never taken for one a kept task came from); with `--no-github` nothing of GitHub's is lost.
 */
import { EncryptionKeys } from "@porter/sql"
import { DataDir } from "@porter/sql/node"
import * as GitHubEmulator from "@porter/testkit/github"
import * as LocalStack from "@porter/worker/stack"
import { Config, Console, Effect, Option, Redacted, Schema } from "effect"
import type { HttpClient } from "effect/http"
import { randomBytes } from "node:crypto"
import { readFile, writeFile } from "node:fs/promises"
import { join } from "node:path"
import * as AdminClient from "./AdminClient.ts"
import { type CliFailure, fail } from "./CliFailure.ts"
import * as Progress from "./Progress.ts"
import * as Sample from "./Sample.ts"

/** `porter dev`'s options: machines (processes or Docker), the GitHub emulator or GitHub, port, output, admin token. */
export interface Options {
  readonly docker: boolean
  readonly github: boolean
  readonly json: boolean
  /** The Worker's port; 0 picks a free one. */
  readonly port: number
  readonly adminToken?: string | undefined
  readonly image?: string | undefined
  readonly dockerSocket?: string | undefined
  /** Fire the Cron Trigger this often (default 60 s). */
  readonly cronIntervalMs?: number | undefined
  /**
   * Keep the stack's state in this directory across restarts (`--data-dir`): the Worker's D1 (`<dir>/v3/d1`, the
   * layout of `wrangler --persist-to`), the encryption key its secrets are sealed with (which also signs the machines'
   * callback tokens) and the admin token. Default: nothing kept.
   */
  readonly dataDir?: string | undefined
}

/** What `--data-dir` keeps besides D1: the keys a restarted Worker needs to read what the last one wrote. */
const keptState = Effect.fn("Dev.keptState")(function*(dir: string, adminToken: string | undefined) {
  const path = yield* DataDir.ensure(dir)
  const encryptionKey = yield* DataDir.secret(path, "encryption-key", EncryptionKeys.generate)
  const generated = () => randomBytes(24).toString("hex")
  const admin = adminToken ?? Redacted.value(yield* DataDir.secret(path, "admin-token", generated))
  // The emulator starts empty each time, but the kept tasks remember its ids (comments, status comments): each run
  // counts up its ids from a base of its own (10 million apart), so that they never repeat the kept ones.
  const runs = join(path, "emulator-runs")
  const run = yield* Effect.tryPromise({
    try: async () => {
      const previous = Number((await readFile(runs, "utf8").catch(() => "0")).trim()) || 0
      await writeFile(runs, `${previous + 1}\n`, { mode: 0o600 })
      return previous + 1
    },
    catch: (cause) => new DataDir.DataDirError({ message: `cannot write ${runs}: ${String(cause)}` })
  })
  return { path, encryptionKey: Redacted.value(encryptionKey), adminToken: admin, idBase: run * 10_000_000 }
})

/** The first line of `porter dev --json`. */
export const DevInfo = Schema.Struct({
  worker: Schema.String,
  github: Schema.String,
  githubAdminToken: Schema.NullOr(Schema.String),
  machines: Schema.String,
  webhookSecret: Schema.String,
  owner: Schema.NullOr(Schema.String),
  /** The web app (`@porter/web`): with the emulator, its sign-in approves at once as `owner`. */
  webApp: Schema.String
})
export type DevInfo = typeof DevInfo.Type

/** Worker variables `porter dev` takes from its own environment when set. */
export const PASSED_THROUGH = [
  "PORTER_ALLOWED_USERS",
  "PORTER_DENIED_USERS",
  "PORTER_HEARTBEAT_TIMEOUT_MS",
  "PORTER_HEARTBEAT_INTERVAL_MS",
  "PORTER_MACHINE_ENV",
  "PORTER_MACHINE_CPUS",
  "PORTER_MACHINE_MEMORY_MB",
  "PORTER_TASK_TOKEN_SECRET"
] as const

/** The web app's variables, taken from the environment with a real GitHub (`--no-github`). */
export const WEB_APP_VARIABLES = [
  "GITHUB_OAUTH_CLIENT_ID",
  "GITHUB_OAUTH_CLIENT_SECRET",
  "GITHUB_WEB_URL",
  "PORTER_SESSION_SECRET",
  "PORTER_OPERATORS"
] as const

/** GitHub from the environment, for `--no-github`. */
export const githubFromEnv = Effect.gen(function*() {
  const settings = yield* Config.all({
    apiUrl: Config.String("GITHUB_API_URL").pipe(Config.withDefault("https://api.github.com")),
    gitUrl: Config.String("GITHUB_GIT_URL").pipe(Config.withDefault("https://github.com")),
    webhookSecret: Config.option(Config.String("GITHUB_WEBHOOK_SECRET")),
    appId: Config.option(Config.String("GITHUB_APP_ID")),
    privateKey: Config.option(Config.String("GITHUB_APP_PRIVATE_KEY")),
    token: Config.option(Config.String("GITHUB_TOKEN"))
  }).pipe(Effect.mapError(() => fail("cannot read the GitHub settings from the environment")))
  const hasApp = Option.isSome(settings.appId) && Option.isSome(settings.privateKey)
  if (Option.isNone(settings.webhookSecret) || (!hasApp && Option.isNone(settings.token))) {
    return yield* fail(
      "--no-github needs GitHub settings in the environment: GITHUB_WEBHOOK_SECRET and either GITHUB_APP_ID + " +
        "GITHUB_APP_PRIVATE_KEY or GITHUB_TOKEN (and GITHUB_API_URL / GITHUB_GIT_URL for GitHub Enterprise)"
    )
  }
  return {
    apiUrl: settings.apiUrl,
    gitUrl: settings.gitUrl,
    webhookSecret: settings.webhookSecret.value,
    appId: Option.getOrUndefined(settings.appId),
    privateKey: Option.getOrUndefined(settings.privateKey),
    token: Option.getOrUndefined(settings.token)
  } satisfies LocalStack.GitHubSettings
})

const clock = () => new Date().toTimeString().slice(0, 8)

/** Writes one log line to stdout. */
const log = (text: string) => Effect.sync(() => process.stdout.write(`${clock()} ${text}\n`))

// Effect's JSON logger writes `message` as a string, or as an array when the log call has arguments (the text, then
// objects of fields); `annotations` holds the annotated fields.
const WorkerLine = Schema.Struct({
  level: Schema.optional(Schema.String),
  message: Schema.optional(Schema.Union([Schema.String, Schema.Array(Schema.Unknown)])),
  annotations: Schema.optional(Schema.Record(Schema.String, Schema.Unknown))
})
const decodeWorkerLine = Schema.decodeUnknownOption(Schema.fromJsonString(WorkerLine))

const fieldText = (value: unknown) => (typeof value === "string" ? value : JSON.stringify(value))

/** A Worker console line worth showing (warnings and errors), as text; `undefined` to skip it. */
export const workerLine = (level: string, message: string): string | undefined => {
  const parsed = Option.getOrUndefined(decodeWorkerLine(message))
  const severity = (parsed?.level ?? level).toUpperCase()
  if (!/WARN|ERROR|FATAL/.test(severity)) return undefined
  const parts: Array<string> = []
  const said = parsed?.message ?? message
  for (const part of typeof said === "string" ? [said] : said) {
    if (typeof part === "object" && part !== null && !Array.isArray(part)) {
      for (const [key, value] of Object.entries(part)) parts.push(`${key}=${fieldText(value)}`)
    } else parts.push(fieldText(part))
  }
  for (const [key, value] of Object.entries(parsed?.annotations ?? {})) parts.push(`${key}=${fieldText(value)}`)
  return `worker ${severity.startsWith("WARN") ? "warning" : "error"}: ${parts.join(" ")}`
}

/** Follows tasks (admin API) and machines (the machines server) and prints what changed. */
const tail = (stack: LocalStack.LocalStack, admin: AdminClient.AdminClient["Service"]) =>
  Effect.gen(function*() {
    const states = new Map<string, string>()
    const machineStates = new Map<string, string>()
    const outputSeen = new Map<string, number>()
    let adminDown = false
    for (;;) {
      const tasks = yield* admin.listTasks({ limit: 50 }).pipe(Effect.result)
      if (tasks._tag === "Failure") {
        if (!adminDown) yield* log(`porter: cannot list tasks: ${tasks.failure.message}`)
        adminDown = true
      } else {
        adminDown = false
        for (const task of [...tasks.success].reverse()) {
          const before = states.get(task.id)
          if (before === task.state) continue
          states.set(task.id, task.state)
          const where = `${task.repo}#${task.issueNumber} (${task.agent})`
          const change = before === undefined ? task.state : `${before} → ${task.state}`
          const extra = task.state === "succeeded"
            ? task.prUrl !== undefined ? ` ${task.prUrl}` : task.outcome !== undefined ? ` (${task.outcome})` : ""
            : task.reason !== undefined
            ? `: ${task.reason}`
            : ""
          yield* log(`task ${task.id} ${where}: ${change}${extra}`)
        }
      }
      for (const machine of stack.machines.machines()) {
        const taskId = machine.metadata["porter_task_id"]
        const label = `machine ${machine.id}${taskId !== undefined ? ` (${taskId})` : ""}`
        const output = machine.output
        const seen = outputSeen.get(machine.id) ?? 0
        const complete = output.lastIndexOf("\n") + 1
        if (complete > seen) {
          for (const line of output.slice(seen, complete).split("\n").slice(0, -1)) {
            yield* log(`${machine.id} │ ${line}`)
          }
          outputSeen.set(machine.id, complete)
        }
        if (machineStates.get(machine.id) !== machine.state) {
          machineStates.set(machine.id, machine.state)
          if (machine.state === "started" || machine.state === "destroyed" || machine.state === "failed") {
            yield* log(`${label} ${machine.state}`)
          } else if (machine.state === "stopped") {
            yield* log(`${label} stopped (exit ${machine.exitCode === null ? "by signal" : machine.exitCode})`)
          }
        }
      }
      yield* Effect.sleep("500 millis")
    }
  })

/** `porter dev`: the local stack until Ctrl-C. */
export const run = (options: Options): Effect.Effect<never, CliFailure, HttpClient.HttpClient> =>
  Effect.scoped(Effect.gen(function*() {
    const github = options.github ? undefined : yield* githubFromEnv
    const docker = options.docker
      ? {
        socketPath: options.dockerSocket ?? process.env["DOCKER_SOCKET"] ?? "/var/run/docker.sock",
        image: options.image ?? process.env["PORTER_MACHINE_IMAGE"] ?? "porter-runner:0.1.0"
      }
      : undefined
    const workerEnv: Record<string, string> = {}
    // The web app's OAuth client comes from the environment only with a real GitHub (the emulator has its own).
    for (const name of github === undefined ? PASSED_THROUGH : [...PASSED_THROUGH, ...WEB_APP_VARIABLES]) {
      const value = process.env[name]
      if (value !== undefined && value !== "") workerEnv[name] = value
    }
    // What the user can fix is checked before anything is printed or started.
    if (options.port !== 0) {
      yield* LocalStack.checkPortFree("127.0.0.1", options.port).pipe(Effect.mapError((error) => fail(error.message)))
    }
    if (docker !== undefined) {
      yield* LocalStack.checkDocker(docker).pipe(Effect.mapError((error) => fail(error.message)))
    }
    const progress = Progress.make()
    yield* Console.error("porter dev: starting Porter on this machine")
    const kept = options.dataDir === undefined
      ? undefined
      : yield* keptState(options.dataDir, options.adminToken).pipe(Effect.mapError((error) => fail(error.message)))
    const keptEmulator = kept !== undefined && options.github
      ? yield* progress.step(
        (e: GitHubEmulator.Emulator) => `GitHub emulator on ${e.url}`,
        GitHubEmulator.start({ idBase: kept.idBase })
      )
      : undefined
    const stack = yield* LocalStack.start({
      emulator: keptEmulator,
      port: options.port,
      github,
      docker,
      adminToken: kept?.adminToken ?? options.adminToken,
      persistTo: kept?.path,
      workerEnv: kept === undefined ? workerEnv : { ...workerEnv, PORTER_ENCRYPTION_KEY: kept.encryptionKey },
      step: progress.step,
      onWorkerLog: (line) => {
        const text = workerLine(line.level, line.message)
        if (text !== undefined) process.stdout.write(`${clock()} ${text}\n`)
      }
    }).pipe(Effect.mapError((error) => fail(error.message)))

    const emulator = stack.github
    const sample = emulator === undefined ? undefined : yield* progress.step(
      (s: { readonly repo: string; readonly issue: number }) => `sample repository ${s.repo} with issue #${s.issue}`,
      Effect.gen(function*() {
        const repo = yield* Sample.createRepository(emulator)
        const issue = yield* Sample.openIssue(emulator, repo)
        return { repo, issue: issue.number }
      })
    )

    const info: DevInfo = {
      worker: stack.worker.url,
      github: stack.githubApiUrl,
      githubAdminToken: emulator?.admin.token ?? null,
      machines: stack.machines.url,
      webhookSecret: stack.webhookSecret,
      owner: emulator?.admin.login ?? null,
      webApp: `${stack.worker.url}/app`
    }
    // A ready login for the web app: the emulator's GitHub signs the browser in as its admin (owner and operator).
    if (emulator !== undefined) emulator.oauth.signInAs(emulator.admin.login)
    if (options.json) yield* Effect.sync(() => process.stdout.write(`${JSON.stringify(info)}\n`))
    const lines = [
      "",
      "Porter is running on this machine:",
      `  Worker        ${stack.worker.url}   (webhooks: ${stack.worker.url}/webhooks/github)`,
      emulator !== undefined
        ? `  GitHub        ${emulator.url}   (emulator; admin @${emulator.admin.login}, token ${emulator.admin.token})`
        : `  GitHub        ${stack.githubApiUrl}   (from the environment; point its webhooks at the Worker)`,
      `  machines      ${stack.machines.url}   (${
        stack.machines.runtime === "docker" ? "Docker containers" : "local processes"
      })`,
      `  admin API     PORTER_URL=${stack.worker.url} PORTER_ADMIN_TOKEN=${stack.adminToken}`,
      ...(kept !== undefined
        ? [`  state         ${kept.path}   (D1, keys and admin token, kept across restarts)`]
        : []),
      emulator !== undefined
        ? `  web app       ${stack.worker.url}/app   (Sign in with GitHub: the emulator signs you in as @${emulator.admin.login})`
        : `  web app       ${stack.worker.url}/app   (set GITHUB_OAUTH_CLIENT_ID and its secret to sign in)`,
      `  MCP           ${stack.worker.url}/mcp   (a personal token from ${stack.worker.url}/app/tokens: ` +
      `claude mcp add --transport http porter ${stack.worker.url}/mcp --header "Authorization: Bearer <token>")`,
      ...(stack.claude !== undefined
        ? [`  agents        script, claude (${stack.claude.path}; set ANTHROPIC_API_KEY with \`porter secrets set\`)`]
        : []),
      ...(sample !== undefined && emulator !== undefined
        ? [
          "",
          `Try it: comment on ${sample.repo}#${sample.issue} as @${emulator.admin.login}:`,
          `  curl -s -H "authorization: Bearer ${emulator.admin.token}" -d '{"body":"@porter script add a changelog"}' \\`,
          `    ${emulator.url}/repos/${sample.repo}/issues/${sample.issue}/comments`
        ]
        : []),
      "",
      "Following tasks and machines; Ctrl-C stops everything.",
      ""
    ]
    yield* Effect.sync(() => process.stdout.write(lines.join("\n") + "\n"))

    const admin = yield* AdminClient.make({ url: stack.worker.url, token: Redacted.make(stack.adminToken) }).pipe(
      Effect.mapError((error) => fail(error.message))
    )
    const cron = Effect.gen(function*() {
      for (;;) {
        yield* Effect.sleep(options.cronIntervalMs ?? 60_000)
        yield* Effect.tryPromise(() => stack.worker.scheduled()).pipe(
          Effect.catch((error) => log(`porter: the watchdog sweep failed: ${String(error.cause ?? error)}`))
        )
      }
    })
    yield* Effect.forkScoped(cron)
    yield* Effect.onInterrupt(
      tail(stack, admin),
      () => Effect.sync(() => process.stderr.write("porter dev: stopping (workerd, machines, emulator)…\n"))
    )
    return yield* Effect.never
  }))

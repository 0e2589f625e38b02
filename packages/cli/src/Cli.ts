/**
 * The `porter` command (Effect's CLI module): `dev`, `demo`, `doctor`, `secrets set|ls|rm`, `tasks ls|show`, each
 * with `--help`. Bad arguments and failures end in one line on stderr (`porter: …`) that says what to do, and a
 * non-zero exit: 2 for a bad invocation, 1 when the command failed. No stack traces (`PORTER_DEBUG=1` prints
 * the full cause).
 *
 * Startup: this module and the admin commands import Effect's modules directly (`effect/Effect`, not the
 * `effect` barrel, which loads every module): `porter --help` starts in about half the time. The commands that
 * start the stack load their modules only when they run.
 */
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Task } from "@porter/core"
import * as Cause from "effect/Cause"
import * as Argument from "effect/cli/Argument"
import * as CliConfig from "effect/cli/CliConfig"
import * as CliError from "effect/cli/CliError"
import * as CliOutput from "effect/cli/CliOutput"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as GlobalFlag from "effect/cli/GlobalFlag"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Admin from "./Admin.ts"
import * as Failure from "./CliFailure.ts"

/** The CLI's version (`porter --version`). */
export const VERSION = "0.1.0"

// The heavy modules (esbuild, Miniflare, the emulators) load only for the commands that use them. Miniflare (with
// workerd, ~150 MB) and esbuild are optional peer dependencies: installed from the registry without them, `porter dev`
// and `porter demo` say what to install, and the other commands work.
const missingStack = (command: string) => (defect: unknown) => {
  const message = defect instanceof Error ? defect.message : String(defect)
  const missing = /Cannot find (?:package|module) '(miniflare|esbuild)'/.exec(message)?.[1]
  return missing === undefined
    ? Effect.die(defect)
    : Effect.fail(Failure.fail(
      `porter ${command} runs the Worker in workerd: it needs miniflare and esbuild next to @porter/cli ` +
        `(${missing} is missing): npm install --save-dev miniflare@${MINIFLARE_RANGE} esbuild`,
      1
    ))
}
const MINIFLARE_RANGE = "5.20261023.3-beta"
const loadDev = () => Effect.promise(() => import("./Dev.ts")).pipe(Effect.catchDefect(missingStack("dev")))
const loadDemo = () => Effect.promise(() => import("./Demo.ts")).pipe(Effect.catchDefect(missingStack("demo")))
const loadDoctor = () => Effect.promise(() => import("./Doctor.ts"))

const url = Flag.String("url").pipe(
  Flag.withDescription("The deployment's URL, e.g. https://porter.example.workers.dev (default: $PORTER_URL)"),
  Flag.withFallbackConfig(Config.String("PORTER_URL")),
  Flag.optional
)
const adminToken = Flag.Redacted("admin-token").pipe(
  Flag.withDescription("The deployment's PORTER_ADMIN_TOKEN (default: $PORTER_ADMIN_TOKEN)"),
  Flag.withFallbackConfig(Config.Redacted("PORTER_ADMIN_TOKEN")),
  Flag.optional
)
const json = Flag.Boolean("json").pipe(Flag.withDescription("Print JSON instead of text"), Flag.withDefault(false))
const scope = Flag.String("scope").pipe(
  Flag.withDescription("global, repository:OWNER/NAME, installation:ID or user:GITHUB_USER_ID"),
  Flag.withDefault("global")
)
const secretName = Argument.String("name").pipe(
  Argument.withDescription("The secret's name, e.g. ANTHROPIC_API_KEY")
)

const dev = Command.make("dev", {
  docker: Flag.Boolean("docker").pipe(
    Flag.withDescription("Run machines as Docker containers of the runner image (default: local processes)"),
    Flag.withDefault(false)
  ),
  github: Flag.Boolean("github").pipe(
    Flag.withDescription(
      "Start the GitHub emulator (default); --no-github uses the GitHub in the environment: GITHUB_WEBHOOK_SECRET, " +
        "GITHUB_APP_ID + GITHUB_APP_PRIVATE_KEY or GITHUB_TOKEN, GITHUB_API_URL"
    ),
    Flag.withDefault(true)
  ),
  json: Flag.Boolean("json").pipe(
    Flag.withDescription(
      "First line of stdout: one JSON object {worker, github, githubAdminToken, machines, webhookSecret, owner}"
    ),
    Flag.withDefault(false)
  ),
  port: Flag.Int("port").pipe(
    Flag.withDescription("The Worker's port on 127.0.0.1; 0 picks a free one"),
    Flag.withDefault(8787)
  ),
  adminToken: Flag.String("admin-token").pipe(
    Flag.withDescription("The local Worker's admin token (default: $PORTER_ADMIN_TOKEN, else a random one)"),
    Flag.withFallbackConfig(Config.String("PORTER_ADMIN_TOKEN")),
    Flag.optional
  ),
  image: Flag.String("image").pipe(
    Flag.withDescription("With --docker: the runner image (default: $PORTER_MACHINE_IMAGE or porter-runner:0.1.0)"),
    Flag.optional
  ),
  dockerSocket: Flag.String("docker-socket").pipe(
    Flag.withDescription("With --docker: the daemon's socket (default: $DOCKER_SOCKET or /var/run/docker.sock)"),
    Flag.optional
  ),
  dataDir: Flag.String("data-dir").pipe(
    Flag.withDescription(
      "Keep the Worker's D1 (tasks, secrets, settings), its encryption key and the admin token in this directory " +
        "across restarts (default: nothing kept)"
    ),
    Flag.optional
  )
}, (input) =>
  Effect.gen(function*() {
    if (!Number.isInteger(input.port) || input.port < 0 || input.port > 65_535) {
      return yield* Failure.fail(`--port must be a port number (0 to 65535), not ${input.port}`, 2)
    }
    const Dev = yield* loadDev()
    return yield* Dev.run({
      docker: input.docker,
      github: input.github,
      json: input.json,
      port: input.port,
      adminToken: Option.getOrUndefined(input.adminToken),
      image: Option.getOrUndefined(input.image),
      dockerSocket: Option.getOrUndefined(input.dockerSocket),
      dataDir: Option.getOrUndefined(input.dataDir)
    })
  })).pipe(
    Command.withDescription(
      "Run Porter on this machine until Ctrl-C: the Worker in workerd with a local D1, the local machines server " +
        "and the GitHub emulator (with a sample repository); prints the URLs and follows tasks and machines."
    ),
    Command.withExamples([
      { command: "porter dev", description: "Everything local, on http://127.0.0.1:8787" },
      { command: "porter dev --json --port 0", description: "For scripts: the URLs and tokens as the first line" },
      { command: "porter dev --data-dir .porter-dev", description: "Keep tasks, secrets and settings across restarts" },
      {
        command: "porter dev --no-github --port 8787",
        description: "Your own GitHub App (settings from the environment)"
      }
    ])
  )

const demo = Command.make("demo", {
  agent: Flag.Literals("agent", ["auto", "claude", "script"]).pipe(
    Flag.withDescription("auto: Claude Code when installed (against a scripted model), else the script agent"),
    Flag.withDefault("auto")
  ),
  timeout: Flag.Int("timeout").pipe(
    Flag.withDescription("Seconds the task may take"),
    Flag.withDefault(240)
  ),
  verbose: Flag.Boolean("verbose").pipe(
    Flag.withDescription("Show the machine's output as it runs"),
    Flag.withDefault(false)
  )
}, (input) =>
  Effect.gen(function*() {
    if (input.timeout < 1) return yield* Failure.fail(`--timeout must be a positive number of seconds`, 2)
    const Demo = yield* loadDemo()
    yield* Demo.run({ agent: input.agent, timeout: `${input.timeout} seconds`, verbose: input.verbose })
  })).pipe(
    Command.withDescription(
      "One real run, offline, nothing to configure: a sample repository and issue in the GitHub emulator, a " +
        "signed @porter comment, the Worker in workerd, a machine running the runner and an agent; prints the " +
        "issue thread and the pull request's diff. Exits 0 only if the pull request exists."
    )
  )

const doctor = Command.make("doctor", {
  url,
  adminToken,
  envFile: Flag.String("env-file").pipe(
    Flag.withDescription("Check the variables of this file (.dev.vars, .env) here instead of a deployment"),
    Flag.optional
  ),
  offline: Flag.Boolean("offline").pipe(
    Flag.withDescription("With --env-file (or the environment): do not call GitHub or Fly"),
    Flag.withDefault(false)
  )
}, (input) =>
  Effect.gen(function*() {
    const Doctor = yield* loadDoctor()
    yield* Doctor.run({
      url: Option.getOrUndefined(input.url),
      adminToken: Option.getOrUndefined(input.adminToken),
      envFile: Option.getOrUndefined(input.envFile),
      offline: input.offline
    })
  })).pipe(
    Command.withDescription(
      "Check a configuration and say what to fix: webhook secret, GitHub App key, encryption key, admin token, " +
        "Fly token, D1 migrations. A deployment (--url, GET /admin/doctor) or a file here (--env-file); " +
        "without either, this environment."
    ),
    Command.withExamples([
      { command: "porter doctor --url https://porter.example.workers.dev --admin-token $TOKEN" },
      { command: "porter doctor --env-file packages/worker/.dev.vars" }
    ])
  )

const connection = (input: {
  readonly url: Option.Option<string>
  readonly adminToken: Option.Option<Redacted.Redacted<string>>
}): Admin.Connection => ({
  url: input.url,
  adminToken: input.adminToken
})

const secretsSet = Command.make("set", {
  url,
  adminToken,
  scope,
  name: secretName,
  value: Flag.Redacted("value").pipe(
    Flag.withDescription("The value (visible to other users of this machine: prefer stdin or the prompt)"),
    Flag.optional
  )
}, (input) => Admin.secretsSet(connection(input), input)).pipe(
  Command.withDescription(
    "Set a secret; the value comes from --value, stdin, or a hidden prompt, and is never printed"
  ),
  Command.withExamples([
    { command: "porter secrets set ANTHROPIC_API_KEY", description: "Prompts for the value" },
    { command: "printf %s \"$KEY\" | porter secrets set ANTHROPIC_API_KEY --scope repository:acme/app" }
  ])
)

const secretsList = Command.make("ls", {
  url,
  adminToken,
  json,
  scope: Flag.String("scope").pipe(Flag.withDescription("Only this scope (default: every scope)"), Flag.optional)
}, (input) => Admin.secretsList(connection(input), input)).pipe(
  Command.withDescription("List secrets: scope, name and when set (never values)")
)

const secretsRemove = Command.make(
  "rm",
  { url, adminToken, scope, name: secretName },
  (input) => Admin.secretsRemove(connection(input), input)
).pipe(Command.withDescription("Remove a secret"))

const secretsRotate = Command.make(
  "rotate",
  { url, adminToken, json },
  (input) => Admin.secretsRotate(connection(input), input)
).pipe(
  Command.withDescription(
    "Re-encrypt every secret under the deployment's current PORTER_ENCRYPTION_KEY (keep the old key in " +
      "PORTER_ENCRYPTION_OLD_KEYS until this reports no failures)"
  )
)

const secrets = Command.make("secrets").pipe(
  Command.withDescription("Secrets of a deployment (agent keys, tokens) through its admin API"),
  Command.withSubcommands([secretsSet, secretsList, secretsRemove, secretsRotate])
)

const tasksList = Command.make("ls", {
  url,
  adminToken,
  json,
  state: Flag.Literals("state", Task.TaskState.literals)
    .pipe(Flag.withDescription("Only tasks in this state"), Flag.optional),
  repo: Flag.String("repo").pipe(Flag.withDescription("Only tasks of OWNER/NAME"), Flag.optional),
  limit: Flag.Int("limit").pipe(Flag.withDescription("At most this many (1 to 500)"), Flag.withDefault(50))
}, (input) =>
  Effect.gen(function*() {
    if (input.limit < 1 || input.limit > 500) return yield* Failure.fail("--limit must be between 1 and 500", 2)
    yield* Admin.tasksList(connection(input), input)
  })).pipe(Command.withDescription("List tasks, newest first"))

const tasksShow = Command.make("show", {
  url,
  adminToken,
  json,
  id: Argument.String("task-id").pipe(Argument.withDescription("The task's id (task_…)"))
}, (input) => Admin.tasksShow(connection(input), input)).pipe(
  Command.withDescription("Show one task and its audit trail")
)

const taskId = Argument.String("task-id").pipe(Argument.withDescription("The task's id (task_…)"))

const tasksCancel = Command.make(
  "cancel",
  { url, adminToken, id: taskId },
  (input) => Admin.tasksCancel(connection(input), input)
).pipe(
  Command.withDescription("Cancel a task: its machine is destroyed and its issue told")
)

const tasksRetry = Command.make(
  "retry",
  { url, adminToken, id: taskId },
  (input) => Admin.tasksRetry(connection(input), input)
).pipe(
  Command.withDescription("Run an ended task again, as a new task on the same issue")
)

const tasks = Command.make("tasks").pipe(
  Command.withDescription("Tasks of a deployment through its admin API"),
  Command.withSubcommands([tasksList, tasksShow, tasksCancel, tasksRetry])
)

/** The `porter` command with its subcommands. */
export const porter = Command.make("porter").pipe(
  Command.withDescription(
    "Porter turns `@porter <agent> <instructions>` comments on GitHub issues into short-lived machines running " +
      "coding agents that open pull requests."
  ),
  Command.withSubcommands([dev, demo, doctor, secrets, tasks])
)

/** A bad invocation is one line (what is wrong, and where the help is), never the whole help page. */
export const presenter: CliOutput.Presenter = {
  present: (event) =>
    Effect.gen(function*() {
      const formatter = yield* CliOutput.Formatter
      switch (event._tag) {
        case "Help":
          return yield* Console.log(formatter.formatHelpDoc(event.helpDoc))
        case "Version":
          return yield* Console.log(formatter.formatVersion(event.name, event.version))
        case "InvalidInvocation": {
          const command = event.commandPath.join(" ")
          const first = event.errors[0]
          const what = first === undefined ? "invalid arguments" : Failure.oneLine(first.message)
          return yield* Console.error(`${command}: ${what} (see \`${command} --help\`)`)
        }
      }
    })
}

/** Runs `porter` with these arguments; never fails (see `main`). */
export const run = (argv: ReadonlyArray<string>) =>
  Command.runWith(porter, { version: VERSION })(argv).pipe(
    Effect.provide(Layer.mergeAll(
      NodeServices.layer,
      FetchHttpClient.layer,
      CliOutput.layerPresenter(presenter),
      // --help and --version; no wizard, completions or log level.
      CliConfig.layer({ builtIns: [GlobalFlag.Help, GlobalFlag.Version] })
    ))
  )

/** The exit code of a finished run; prints the one-line error (usage errors were printed by the presenter). */
export const exitCode = (exit: Exit.Exit<unknown, unknown>, interruptCode: number): number => {
  if (Exit.isSuccess(exit)) return 0
  if (Cause.hasInterruptsOnly(exit.cause)) return interruptCode
  const error = Cause.squash(exit.cause)
  if (CliError.isCliError(error) && error._tag === "ShowHelp") {
    // Printed already by the presenter: the help (asked for, exit 0) or the invocation's one line (exit 2).
    return error.errors.length === 0 ? 0 : 2
  }
  if (CliError.isCliError(error)) {
    process.stderr.write(`porter: ${Failure.oneLine(error.message)} (see \`porter --help\`)\n`)
    return 2
  }
  if (process.env["PORTER_DEBUG"] === "1") process.stderr.write(`${Cause.pretty(exit.cause)}\n`)
  const { code, line } = Failure.report(exit.cause)
  process.stderr.write(`${line}\n`)
  return code
}

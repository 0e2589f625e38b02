/**
 * `@porter/worker/stack` (Node only): Porter's whole stack on this machine — the one assembly that `porter dev`,
 * `porter demo`, the Worker's end-to-end tests, the reliability suite and the benchmarks start:
 *
 * - the reference Worker, bundled as `wrangler deploy` would upload it, in workerd through Miniflare with a local
 *   D1 (migrations applied) — `@porter/worker/local`;
 * - the GitHub emulator (`@porter/testkit/github`) with Porter's App installed and its webhooks pointed at the
 *   Worker — or, instead, GitHub settings the user gives (a real GitHub App, or a token);
 * - the local machines server (`@porter/testkit/fly`), the Fly Machines API on loopback, which the Worker's Fly
 *   provisioner drives unchanged: each machine is a child process running the real runner from its sources, or a
 *   Docker container of the runner image.
 *
 * Process machines get only the machine environment plus `PATH` (this repository's `node_modules/.bin` first, so
 * agent CLIs installed here — `claude` — are found, then this Node) and a private `HOME` removed on close.
 *
 * Callers that put something between the pieces (the reliability suite's fault proxies) start the emulator
 * themselves and pass it in, with the URLs the Worker should use in `workerEnv`.
 *
 * Everything lives in the caller's `Scope`: closing it stops workerd, kills every machine and removes temporary
 * directories (Miniflare's own signal handlers, which would exit the process before that, are removed). Cannot:
 * survive the process being killed with SIGKILL (children are then left to the OS), or run the Cron Trigger by
 * itself (`porter dev` fires it every minute; tests call `worker.scheduled()`).
 */
import { EncryptionKeys } from "@porter/d1"
import * as MachinesServer from "@porter/testkit/fly"
import * as GitHubEmulator from "@porter/testkit/github"
import { Effect, Schema, Scope } from "effect"
import { spawnSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import { existsSync } from "node:fs"
import { mkdtemp, rm } from "node:fs/promises"
import { request } from "node:http"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as Local from "./local.ts"

/** GitHub settings for a stack without the emulator (`porter dev --no-github`). */
export interface GitHubSettings {
  readonly apiUrl: string
  readonly gitUrl: string
  readonly webhookSecret: string
  readonly appId?: string | undefined
  readonly privateKey?: string | undefined
  readonly token?: string | undefined
}

/** Machines as Docker containers instead of local processes. */
export interface DockerMachines {
  /** The Docker daemon's unix socket. */
  readonly socketPath: string
  /** The runner image; it must exist locally (nothing is pulled). */
  readonly image: string
}

/** How to start the local stack (every field optional). */
export interface Options {
  /** The Worker's port on 127.0.0.1; default (or 0): a free one. */
  readonly port?: number | undefined
  /** Use this GitHub instead of starting the emulator. */
  readonly github?: GitHubSettings | undefined
  /** Use this emulator (started by the caller) instead of starting one. */
  readonly emulator?: GitHubEmulator.Emulator | undefined
  /** What each process machine runs; default the real runner from its sources (`MachinesServer.runnerCommand()`). */
  readonly machineCommand?: MachinesServer.Command | undefined
  /** The machines server's API token (the Worker's `FLY_API_TOKEN`); default random. */
  readonly machinesToken?: string | undefined
  /** A Worker bundle to share between stacks; default: bundled now. */
  readonly script?: string | undefined
  /** Open workerd's inspector on this port (`0`: a free one). */
  readonly inspectorPort?: number | undefined
  /** Keep the Worker's D1 in this directory across runs (`wrangler --persist-to` layout). */
  readonly persistTo?: string | undefined
  /** Run machines as Docker containers instead of child processes. */
  readonly docker?: DockerMachines | undefined
  /** The Worker's `PORTER_ADMIN_TOKEN`; default: a random one. */
  readonly adminToken?: string | undefined
  /** More variables and secrets for the Worker (they win over the stack's own). */
  readonly workerEnv?: Readonly<Record<string, string>> | undefined
  /** Each console line of the Worker. */
  readonly onWorkerLog?: ((line: Local.LogLine) => void) | undefined
  /** Wraps each start-up step (progress output); default: runs it as is. */
  readonly step?: Step | undefined
}

/** Runs one start-up step; `label` describes it once done. */
export type Step = <A, E, R>(
  label: string | ((a: A) => string),
  effect: Effect.Effect<A, E, R>
) => Effect.Effect<A, E, R>

/** The running stack: the Workers, the GitHub emulator, the machines server, and their addresses. */
export interface LocalStack {
  readonly worker: Local.LocalWorker
  /** The emulator, unless GitHub settings were given. */
  readonly github: GitHubEmulator.Emulator | undefined
  /** The REST API root the Worker talks to. */
  readonly githubApiUrl: string
  readonly machines: MachinesServer.Server
  readonly adminToken: string
  readonly webhookSecret: string
  /** The Claude Code CLI process machines find on their `PATH`, if any. */
  readonly claude: Claude | undefined
}

/** The stack could not start; the message says why and what to do. */
export class StackError extends Schema.TaggedError<StackError>()("StackError", {
  message: Schema.String
}) {}

const noStep: Step = (_label, effect) => effect

const describe = (error: unknown) => (error instanceof Error ? error.message : String(error))

/** `node_modules/.bin` directories from this file up to the file system root, nearest first. */
const binDirs = (): Array<string> => {
  const dirs: Array<string> = []
  let dir = path.dirname(fileURLToPath(import.meta.url))
  for (;;) {
    dirs.push(path.join(dir, "node_modules", ".bin"))
    const parent = path.dirname(dir)
    if (parent === dir) return dirs
    dir = parent
  }
}

/** The Claude Code CLI the stack's machines run, when it is installed. */
export interface Claude {
  /** The `claude` binary. */
  readonly path: string
  /** What `claude --version` says (`2.1.330 (Claude Code)`). */
  readonly version: string
}

/**
 * The Claude Code CLI installed with this repository (`node_modules/.bin/claude`, a root devDependency) when it
 * runs (`claude --version` answers), else `undefined`.
 */
export const findClaude = (): Claude | undefined => {
  for (const dir of binDirs()) {
    const candidate = path.join(dir, "claude")
    if (!existsSync(candidate)) continue
    const probe = spawnSync(candidate, ["--version"], { timeout: 15_000, encoding: "utf8", stdio: "pipe" })
    if (probe.status === 0 && /claude/i.test(probe.stdout)) return { path: candidate, version: probe.stdout.trim() }
  }
  return undefined
}

/** Fails unless `port` can be bound on `host` now. */
export const checkPortFree = (host: string, port: number) =>
  Effect.callback<void, StackError>((resume) => {
    const server = createServer()
    server.once("error", (error: NodeJS.ErrnoException) =>
      resume(Effect.fail(
        new StackError({
          message: error.code === "EADDRINUSE"
            ? `port ${port} is in use: pass --port with another number (0 picks a free one)`
            : `cannot listen on ${host}:${port} (${error.message}): pass --port with another number`
        })
      )))
    server.listen(port, host, () => server.close(() => resume(Effect.void)))
  })

/** One request to the Docker Engine API on its unix socket: the status code (0 when unreachable). */
const dockerStatus = (socketPath: string, urlPath: string) =>
  Effect.callback<number>((resume) => {
    const req = request({ socketPath, path: urlPath, method: "GET", timeout: 5_000 }, (response) => {
      response.resume()
      resume(Effect.succeed(response.statusCode ?? 0))
    })
    req.once("timeout", () => req.destroy(new Error("timed out")))
    req.once("error", () => resume(Effect.succeed(0)))
    req.end()
  })

/** Fails with what to do unless the Docker daemon answers on `socketPath` and has `image`. */
export const checkDocker = (docker: DockerMachines) =>
  Effect.gen(function*() {
    if ((yield* dockerStatus(docker.socketPath, "/_ping")) !== 200) {
      return yield* new StackError({
        message: `no Docker daemon answers on ${docker.socketPath}: start dockerd, or pass --docker-socket ` +
          "(or DOCKER_SOCKET), or leave out --docker to run machines as local processes"
      })
    }
    const image = yield* dockerStatus(docker.socketPath, `/images/${encodeURIComponent(docker.image)}/json`)
    if (image !== 200) {
      return yield* new StackError({
        message: `the runner image ${docker.image} is not on this Docker host (nothing is pulled): build it ` +
          `(\`docker build -f worker-image/Dockerfile -t ${docker.image} .\`, see worker-image/README.md), or pass ` +
          "--image (or PORTER_MACHINE_IMAGE)"
      })
    }
  })

const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const

/**
 * Runs `effect`, then removes the signal listeners it added to `process`. Miniflare installs listeners that exit
 * the process at once on SIGINT/SIGTERM/SIGHUP (after killing workerd), which would skip closing the machines and
 * the emulator; the CLI shuts everything down in order itself (`bin.ts`).
 */
const keepingSignals = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.suspend(() => {
    const before = new Map(SIGNALS.map((signal) => [signal, new Set(process.listeners(signal))]))
    return Effect.ensuring(
      effect,
      Effect.sync(() => {
        for (const signal of SIGNALS) {
          for (const listener of process.listeners(signal)) {
            if (!before.get(signal)!.has(listener)) process.removeListener(signal, listener)
          }
        }
      })
    )
  })

/** A temporary directory removed when the scope closes. */
const tempDir = (prefix: string) =>
  Effect.acquireRelease(
    Effect.promise(() => mkdtemp(path.join(tmpdir(), prefix))),
    (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
  )

/** Starts the stack in the current scope. */
export const start = (options: Options = {}): Effect.Effect<LocalStack, StackError, Scope.Scope> =>
  Effect.gen(function*() {
    const step = options.step ?? noStep
    const host = "127.0.0.1"
    if (options.port !== undefined && options.port !== 0) yield* checkPortFree(host, options.port)
    if (options.docker !== undefined) yield* step("Docker daemon and runner image", checkDocker(options.docker))

    const script = options.script ?? (yield* step(
      (b: Local.Bundle) => `bundled the Worker (${Math.round(b.bytes / 1024)} KiB)`,
      Effect.tryPromise({
        try: () => Local.bundle(),
        catch: (error) => new StackError({ message: `cannot bundle the Worker: ${describe(error)}` })
      })
    )).code

    const github = options.github !== undefined
      ? undefined
      : options.emulator ??
        (yield* step((e: GitHubEmulator.Emulator) => `GitHub emulator on ${e.url}`, GitHubEmulator.start()))

    // Process machines find the agent CLIs installed with this repository (`node_modules/.bin`), then this Node.
    const claude = options.docker === undefined ? findClaude() : undefined
    const home = options.docker === undefined ? yield* tempDir("porter-machines-home-") : undefined
    const machinePath = [
      ...binDirs().filter((dir) => existsSync(dir)),
      path.dirname(process.execPath),
      process.env["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
    ].join(path.delimiter)
    const machines = yield* step(
      (m: MachinesServer.Server) =>
        `machines server on ${m.url} (${m.runtime === "docker" ? "Docker containers" : "local processes"})`,
      MachinesServer.start({
        ...(options.machinesToken !== undefined ? { token: options.machinesToken } : {}),
        inheritEnv: [],
        ...(options.docker !== undefined
          ? { docker: { socketPath: options.docker.socketPath } }
          : {
            command: {
              ...(options.machineCommand ?? MachinesServer.runnerCommand()),
              env: { ...options.machineCommand?.env, PATH: machinePath, HOME: home! }
            }
          })
      })
    )

    const adminToken = options.adminToken ?? randomBytes(24).toString("hex")
    const githubEnv: Record<string, string> = github !== undefined
      ? {
        GITHUB_API_URL: github.url,
        GITHUB_GIT_URL: github.url,
        GITHUB_APP_ID: String(github.app.id),
        GITHUB_APP_PRIVATE_KEY: github.app.privateKeyPkcs1,
        GITHUB_WEBHOOK_SECRET: github.app.webhookSecret,
        // The web app (`/app`): the App's OAuth client on the emulator; the emulator's admin is an operator.
        GITHUB_OAUTH_CLIENT_ID: github.oauth.clientId,
        GITHUB_OAUTH_CLIENT_SECRET: github.oauth.clientSecret,
        PORTER_SESSION_SECRET: randomBytes(32).toString("base64"),
        PORTER_OPERATORS: github.admin.login
      }
      : {
        GITHUB_API_URL: options.github!.apiUrl,
        GITHUB_GIT_URL: options.github!.gitUrl,
        GITHUB_WEBHOOK_SECRET: options.github!.webhookSecret,
        ...(options.github!.appId !== undefined ? { GITHUB_APP_ID: options.github!.appId } : {}),
        ...(options.github!.privateKey !== undefined ? { GITHUB_APP_PRIVATE_KEY: options.github!.privateKey } : {}),
        ...(options.github!.token !== undefined ? { GITHUB_TOKEN: options.github!.token } : {})
      }
    const env: Record<string, string> = {
      ...githubEnv,
      PORTER_ENCRYPTION_KEY: EncryptionKeys.generate(),
      PORTER_ADMIN_TOKEN: adminToken,
      FLY_APP_NAME: machines.app,
      FLY_API_TOKEN: machines.token,
      FLY_API_URL: machines.url,
      PORTER_MACHINE_IMAGE: options.docker?.image ?? "porter-runner:local",
      ...options.workerEnv
    }
    const worker = yield* step(
      (w: Local.LocalWorker) => `Worker in workerd on ${w.url} (local D1, migrations applied)`,
      Local.start({
        script,
        host,
        port: options.port,
        onLog: options.onWorkerLog,
        inspectorPort: options.inspectorPort,
        persistTo: options.persistTo,
        env
      }).pipe(keepingSignals, Effect.mapError((error) => new StackError({ message: error.message })))
    )
    if (github !== undefined) {
      yield* Effect.promise(() => github.setWebhook(`${worker.url}/webhooks/github`))
    }
    return {
      worker,
      github,
      githubApiUrl: env["GITHUB_API_URL"]!,
      machines,
      adminToken,
      webhookSecret: env["GITHUB_WEBHOOK_SECRET"]!,
      claude
    } satisfies LocalStack
  })

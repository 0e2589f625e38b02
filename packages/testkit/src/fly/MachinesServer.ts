/**
 * A local stand-in for the Fly Machines API: the subset Porter uses (apps, create/list/show/wait/stop/start/destroy
 * machines, `metadata.<key>` list filters), on loopback with a port of its own, checking the bearer token like
 * Fly. Each machine runs a configurable command as a child process in its own process group, with only the
 * machine's environment (plus `PATH`/`HOME` and Fly's `FLY_*` runtime variables) — or a Docker container when a
 * Docker daemon socket is configured. States move `created → starting → started → stopped → destroyed` like Fly's;
 * a process that exits stops its machine, and `auto_destroy` then destroys it; destroy kills the process group.
 *
 * Faults for tests (`server.faults`): 429 bursts with `Retry-After`, 5xx, slow answers, a create whose answer is
 * dropped after the machine was made, launch failures, machines that die.
 *
 * It runs on a runtime of its own (real clock), so a test's `TestClock` never freezes machines or answers.
 *
 * Not emulated: leases, volumes, secrets, services/networking, `update`, suspend, the org-wide listing, restart
 * policies other than `no` (a machine is never restarted), resource limits in process mode.
 *
 * This module starts the server and is its public face; the machines and their lifecycle are in `Machines.ts`, the
 * HTTP API in `MachinesApi.ts`, Fly's request bodies, ids and rules in `FlyFormats.ts`.
 */
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Effect, Exit, ManagedRuntime, Scope } from "effect"
import { randomBytes } from "node:crypto"
import { fileURLToPath } from "node:url"
import { FaultQueues, type Faults } from "./Faults.ts"
import { makeMachines } from "./Machines.ts"
import type { MachineState, MachineView } from "./Machines.ts"
import { type RecordedRequest, serveApi } from "./MachinesApi.ts"
import {
  type Command,
  type DockerOptions,
  dockerRuntime,
  type LaunchSpec,
  processRuntime,
  type Runtime
} from "./Runtimes.ts"

export type { Faults, Op, OpFilter } from "./Faults.ts"
export { parseDuration } from "./FlyFormats.ts"
export type { MachineEvent, MachineState, MachineView } from "./Machines.ts"
export type { RecordedRequest } from "./MachinesApi.ts"
export type { Command, DockerOptions } from "./Runtimes.ts"

/** How the machines server starts: token, apps, regions, what machines run (processes or Docker). */
export interface Options {
  /** The token clients must send (`Authorization: Bearer <token>`); default: a random one. */
  readonly token?: string
  /** The app that exists from the start; default `porter-local`. */
  readonly app?: string
  /** More apps that exist from the start. */
  readonly apps?: ReadonlyArray<string>
  /** Region of machines created without one; default `local`. */
  readonly region?: string
  /** When set, creates naming another region fail with 422 like on Fly. */
  readonly regions?: ReadonlyArray<string>
  /**
   * What each machine runs in process mode; default the Porter runner
   * (`node --conditions=@porter/source packages/runner/src/main.ts`). A function picks per machine.
   */
  readonly command?: Command | ((machine: LaunchSpec) => Command)
  /** Run machines as Docker containers instead (the image must exist locally). */
  readonly docker?: DockerOptions
  /** Host variables passed to every machine; default `PATH` and `HOME`. */
  readonly inheritEnv?: ReadonlyArray<string>
  /** Interface to bind; default `127.0.0.1` (the port is always chosen by the system). */
  readonly host?: string
  /** Output kept per machine and stream (the tail); default 1 MiB. */
  readonly logLimitBytes?: number
}

/** A running machines server: its API URL and token, its machines, faults and recorded requests. */
export interface Server {
  /** The API base to use as `FLY_API_URL`, e.g. `http://127.0.0.1:43123/v1`. */
  readonly url: string
  readonly token: string
  /** The default app (`FLY_APP_NAME`). */
  readonly app: string
  readonly runtime: "process" | "docker"
  readonly faults: Faults
  /** Every machine ever created (destroyed ones included), oldest first. */
  readonly machines: () => ReadonlyArray<MachineView>
  readonly machine: (id: string) => MachineView | undefined
  /** A machine's output, stdout and stderr interleaved. */
  readonly logs: (id: string) => string
  /** Every request received, in order (the `Authorization` header is not kept). */
  readonly requests: () => ReadonlyArray<RecordedRequest>
  readonly apps: () => ReadonlyArray<string>
  /** Resolves when the machine is in `state`; rejects after `timeoutMs` (default 30 s) or for an unknown id. */
  readonly waitFor: (id: string, state: MachineState, timeoutMs?: number) => Promise<MachineView>
  /** Kills every machine and stops the server. */
  readonly close: () => Promise<void>
}

/** The Porter runner, run from its TypeScript sources (this file sits in `packages/testkit/{src,dist}/fly/`). */
export const runnerCommand = (): Command => ({
  command: process.execPath,
  args: ["--conditions=@porter/source", fileURLToPath(new URL("../../../runner/src/main.ts", import.meta.url))]
})

/** The test double of the runner (`fakeMachine.ts`): behaviour per machine via its `FAKE_MACHINE` variable. */
export const fakeMachineCommand = (): Command => {
  const here = import.meta.url
  const file = here.endsWith(".ts") ? "./fakeMachine.ts" : "./fakeMachine.js"
  return { command: process.execPath, args: [fileURLToPath(new URL(file, here))] }
}

const make = (options: Options, root: Scope.Scope) =>
  Effect.gen(function*() {
    const token = options.token ?? `fly-local-${randomBytes(18).toString("base64url")}`
    const defaultApp = options.app ?? "porter-local"
    const apps = new Set([defaultApp, ...(options.apps ?? [])])
    const requests: Array<RecordedRequest> = []
    const queues = new FaultQueues()
    const command = options.command ?? runnerCommand()
    const runtime: Runtime = options.docker !== undefined
      ? yield* dockerRuntime(options.docker).pipe(Scope.provide(root))
      : yield* processRuntime(typeof command === "function" ? command : () => command)
    const machines = makeMachines({ root, runtime, queues, inheritEnv: options.inheritEnv ?? ["PATH", "HOME"] })
    const url = yield* serveApi({
      root,
      token,
      apps,
      machines,
      requests,
      queues,
      runtime,
      defaultRegion: options.region ?? "local",
      regions: options.regions,
      logLimit: options.logLimitBytes ?? 1024 * 1024,
      host: options.host
    })
    return {
      token,
      app: defaultApp,
      url,
      runtime,
      machines: machines.byId,
      requests,
      queues,
      view: machines.view,
      kill: machines.kill,
      apps
    }
  })

/** Starts a server (for non-Effect callers); `close()` kills every machine and stops it. */
export const startPromise = async (options: Options = {}): Promise<Server> => {
  const runtime = ManagedRuntime.make(NodeServices.layer)
  const scope = await runtime.runPromise(Scope.make())
  const shutdown = async () => {
    await runtime.runPromise(Scope.close(scope, Exit.void))
    await runtime.dispose()
  }
  let state
  try {
    state = await runtime.runPromise(make(options, scope))
  } catch (error) {
    await shutdown()
    throw error
  }
  const s = state
  let closing: Promise<void> | undefined
  const server: Server = {
    url: s.url,
    token: s.token,
    app: s.app,
    runtime: s.runtime.kind,
    faults: s.queues.api((id) => runtime.runPromise(s.kill(id))),
    machines: () => [...s.machines.values()].map(s.view),
    machine: (id) => {
      const m = s.machines.get(id)
      return m ? s.view(m) : undefined
    },
    logs: (id) => s.machines.get(id)?.log.output ?? "",
    requests: () => [...s.requests],
    apps: () => [...s.apps],
    waitFor: async (id, state, timeoutMs = 30_000) => {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const m = s.machines.get(id)
        if (m === undefined) throw new Error(`no machine ${id}`)
        if (m.state === state) return s.view(m)
        if (Date.now() > deadline) {
          throw new Error(`machine ${id} is ${m.state}, not ${state}, after ${timeoutMs} ms`)
        }
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
    },
    close: () => (closing ??= shutdown())
  }
  return server
}

/** Starts a server for the life of the current scope. */
export const start = (options: Options = {}): Effect.Effect<Server, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => startPromise(options)),
    (server) => Effect.promise(() => server.close())
  )

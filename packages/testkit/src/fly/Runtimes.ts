/**
 * What a local machine runs on: a child process in its own process group (default), or a Docker container
 * through the Docker Engine API on a unix socket. Both start in a `Scope`; closing it kills the process group or
 * force-removes the container, so destroying a machine never leaves anything behind.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Context, Effect, Fiber, Layer, Schema, Scope, Stream } from "effect"
import { HttpClient, HttpClientRequest, HttpClientResponse } from "effect/http"
import { ChildProcess, ChildProcessSpawner } from "effect/process"
import { availableParallelism } from "node:os"

/** A signal a machine's process (or container) can be sent. */
export type Signal = "SIGTERM" | "SIGKILL" | "SIGINT" | "SIGHUP" | "SIGQUIT" | "SIGUSR1" | "SIGUSR2"

/** What to run for a machine in process mode. */
export interface Command {
  readonly command: string
  readonly args?: ReadonlyArray<string>
  readonly cwd?: string
  /** Extra environment for the process (the machine's own `config.env` wins over it). */
  readonly env?: Readonly<Record<string, string>>
}

/** What a runtime starts for one machine: its id, image, environment, size and output sink. */
export interface LaunchSpec {
  readonly machineId: string
  readonly image: string
  /** The complete environment of the machine. */
  readonly env: Readonly<Record<string, string>>
  readonly memoryMb: number
  readonly cpus: number
  readonly output: (stream: "stdout" | "stderr", chunk: Uint8Array) => void
}

/** A started machine: its process or container, how it ended, and how to signal it. */
export interface Launched {
  readonly pid?: number
  readonly containerId?: string
  /** Completes when the machine's process has ended and its output is read: the exit code, `null` if killed. */
  readonly exited: Effect.Effect<number | null>
  /** Sends a signal to the process group (or container); `graceMs` later, SIGKILL if it still runs. */
  readonly signal: (signal: Signal, graceMs?: number) => Effect.Effect<void>
}

/** Where machines run: child processes or Docker containers. */
export interface Runtime {
  readonly kind: "process" | "docker"
  /** Starts the machine; the process lives until `scope` closes. Fails with a reason for the machine's log. */
  readonly launch: (spec: LaunchSpec, scope: Scope.Scope) => Effect.Effect<Launched, string>
  /** `undefined` when the image can be used, else why not. */
  readonly checkImage: (image: string) => Effect.Effect<string | undefined>
}

const describe = (u: unknown): string => (u instanceof Error ? u.message : String(u))

const drain = (stream: Stream.Stream<Uint8Array, unknown>, sink: (chunk: Uint8Array) => void) =>
  stream.pipe(Stream.runForEach((chunk) => Effect.sync(() => sink(chunk))), Effect.ignore)

/** Child processes, each in its own process group, with only the environment it is given. */
export const processRuntime = (
  commandFor: (spec: LaunchSpec) => Command
): Effect.Effect<Runtime, never, ChildProcessSpawner.ChildProcessSpawner> =>
  Effect.map(ChildProcessSpawner.ChildProcessSpawner, (spawner) => ({
    kind: "process" as const,
    checkImage: () => Effect.succeed(undefined),
    launch: (spec, scope) =>
      Effect.gen(function*() {
        const command = commandFor(spec)
        const handle = yield* spawner.spawn(
          ChildProcess.make(command.command, [...(command.args ?? [])], {
            env: { ...command.env, ...spec.env },
            extendEnv: false,
            detached: true,
            stdin: "ignore",
            killSignal: "SIGTERM",
            forceKillAfter: "2 seconds",
            ...(command.cwd !== undefined ? { cwd: command.cwd } : {})
          })
        ).pipe(Scope.provide(scope), Effect.mapError((error) => `cannot start ${command.command}: ${describe(error)}`))
        const readers = yield* Effect.forkIn(
          Effect.all([
            drain(handle.stdout, (chunk) => spec.output("stdout", chunk)),
            drain(handle.stderr, (chunk) => spec.output("stderr", chunk))
          ], { concurrency: 2 }),
          scope
        )
        // Runs before the fork's and the spawn's own finalizers: end the group, then keep its last words.
        yield* Scope.addFinalizer(
          scope,
          Effect.ignore(handle.kill({ killSignal: "SIGTERM", forceKillAfter: "2 seconds" })).pipe(
            Effect.andThen(Effect.ignore(Effect.timeout(Fiber.await(readers), "2 seconds")))
          )
        )
        const exited = handle.exitCode.pipe(
          Effect.map((code): number | null => Number(code)),
          Effect.orElseSucceed(() => null),
          // Output still in the pipes belongs to the log; do not wait forever for a leaked grandchild's pipe.
          Effect.tap(() => Effect.ignore(Effect.timeout(Fiber.await(readers), "2 seconds")))
        )
        return {
          pid: Number(handle.pid),
          exited,
          signal: (signal, graceMs) =>
            Effect.ignore(handle.kill({ killSignal: signal, forceKillAfter: graceMs ?? 2_000 }))
        } satisfies Launched
      })
  }))

/** Running machines as Docker containers: the daemon's socket, the network, the command. */
export interface DockerOptions {
  /** The Docker daemon's unix socket, e.g. `/var/run/docker.sock`. */
  readonly socketPath: string
  /** Container network; default `host`, so machines reach servers on the host's loopback. */
  readonly network?: string
  /** Overrides the image's command. */
  readonly cmd?: ReadonlyArray<string>
}

const ContainerCreated = Schema.Struct({ Id: Schema.String })
const ContainerWait = Schema.Struct({ StatusCode: Schema.Number })

/** Docker's multiplexed log stream: 8-byte frames (stream type, 3 zero bytes, big-endian length) then payload. */
export const demultiplex = (sink: (stream: "stdout" | "stderr", chunk: Uint8Array) => void) => {
  let buffer = new Uint8Array(0)
  return (chunk: Uint8Array) => {
    const next = new Uint8Array(buffer.length + chunk.length)
    next.set(buffer)
    next.set(chunk, buffer.length)
    buffer = next
    while (buffer.length >= 8) {
      const size = new DataView(buffer.buffer, buffer.byteOffset).getUint32(4)
      if (buffer.length < 8 + size) break
      sink(buffer[0] === 2 ? "stderr" : "stdout", buffer.slice(8, 8 + size))
      buffer = buffer.slice(8 + size)
    }
  }
}

/** Docker containers over the Engine API; the image must exist locally (the server never pulls). */
export const dockerRuntime = (options: DockerOptions): Effect.Effect<Runtime, never, Scope.Scope> =>
  Effect.gen(function*() {
    const services = yield* Layer.build(
      NodeHttpClient.layerUndiciOptions({ connect: { socketPath: options.socketPath } })
    )
    const base = Context.get(services, HttpClient.HttpClient)
    const docker = base.pipe(HttpClient.mapRequest(HttpClientRequest.prependUrl("http://docker")))
    const ok = docker.pipe(HttpClient.filterStatusOk)
    const quote = encodeURIComponent

    const checkImage = (image: string) =>
      docker.get(`/images/${quote(image)}/json`).pipe(
        Effect.map((response) =>
          response.status === 200
            ? undefined
            : response.status === 404
            ? `image ${image} not found locally (the local machines server never pulls images; build or load it first)`
            : `docker answered ${response.status} for image ${image}`
        ),
        Effect.catch((error) => Effect.succeed(`docker is unreachable at ${options.socketPath}: ${describe(error)}`))
      )

    const launch = (spec: LaunchSpec, scope: Scope.Scope) =>
      Effect.gen(function*() {
        const body = {
          Image: spec.image,
          Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
          Labels: { "dev.porter.machine": spec.machineId },
          ...(options.cmd !== undefined ? { Cmd: [...options.cmd] } : {}),
          HostConfig: {
            NetworkMode: options.network ?? "host",
            Memory: spec.memoryMb * 1024 * 1024,
            // Docker refuses more CPUs than the host has.
            NanoCpus: Math.min(spec.cpus, availableParallelism()) * 1_000_000_000
          }
        }
        const created = yield* HttpClientRequest.post(`/containers/create?name=porter-machine-${spec.machineId}`).pipe(
          HttpClientRequest.bodyJsonUnsafe(body),
          ok.execute,
          Effect.flatMap(HttpClientResponse.schemaBodyJson(ContainerCreated)),
          Effect.mapError((error) => `docker could not create the container: ${describe(error)}`)
        )
        const id = created.Id
        yield* Scope.addFinalizer(scope, Effect.ignore(ok.del(`/containers/${id}?force=true&v=true`)))
        yield* ok.post(`/containers/${id}/start`).pipe(
          Effect.mapError((error) => `docker could not start the container: ${describe(error)}`)
        )
        const split = demultiplex(spec.output)
        const reader = yield* Effect.forkIn(
          ok.get(`/containers/${id}/logs?follow=true&stdout=true&stderr=true`).pipe(
            Effect.flatMap((response) => drain(response.stream, split)),
            Effect.ignore
          ),
          scope
        )
        const exited = ok.post(`/containers/${id}/wait`).pipe(
          Effect.flatMap(HttpClientResponse.schemaBodyJson(ContainerWait)),
          Effect.map((result): number | null => (result.StatusCode >= 128 ? null : result.StatusCode)),
          Effect.orElseSucceed(() => null),
          Effect.tap(() => Effect.ignore(Effect.timeout(Fiber.await(reader), "2 seconds")))
        )
        return {
          containerId: id,
          exited,
          signal: (signal, graceMs) =>
            signal === "SIGKILL"
              ? Effect.ignore(ok.post(`/containers/${id}/kill?signal=SIGKILL`))
              : Effect.ignore(
                ok.post(`/containers/${id}/stop?signal=${signal}&t=${Math.ceil((graceMs ?? 2_000) / 1000)}`)
              )
        } satisfies Launched
      })

    return { kind: "docker" as const, launch, checkImage } satisfies Runtime
  })

/**
 * `MachineProvisioner` over the Docker Engine API: one container per task from the runner image, started at once,
 * with the machine environment, CPU and memory limits from `spec.guest` (`NanoCpus`, `Memory`; CPUs capped at what
 * the daemon has), Porter's labels (`porter=1`, `porter.task_id`, `porter.deadline_at`), auto-removal when it ends,
 * and the name `porter-<task id>`: a create repeated after a lost answer meets the first container (409) and
 * returns it instead of making a second one. No `docker-init` by default: the runner image's entrypoint brings its
 * own init after moving the secret environment out of every process's environment, which an init in front of it
 * (PID 1, same user as the agent) would keep.
 *
 * `findByTask` and `list` use label filters, so they need no database and see containers of earlier hosts.
 * Deadlines are labels too: the layer checks them every few seconds (`deadlineCheckMs`) and stops overdue
 * containers (stop signal, then SIGKILL after `stopTimeoutSeconds`), including those a previous host started.
 *
 * What it cannot do:
 * - pull images: the runner image must be on the daemon's host (`docker build`, `docker load` or `docker pull`);
 * - keep the secret environment from whoever can use the daemon: Docker stores a container's `Env` and shows it to
 *   `docker inspect`. Porter never reads it back (responses are decoded without it);
 * - reach the host's loopback from a container on the default bridge network: machines reach the host as
 *   `host.docker.internal` (added by default), or use `network: "host"`;
 * - talk TLS to a remote daemon.
 */
import { Errors, Ids, MachineProvisioner, PorterConfig } from "@porter/core"
import { Clock, Config, Context, Duration, Effect, Layer, Option, Schedule, Scope } from "effect"
import * as DockerApi from "./DockerApi.ts"
import * as DockerEngine from "./DockerEngine.ts"
import { createRequest, isPorters, summaryToMachine, toMachine } from "./DockerMachineMapping.ts"
import { toProvisionError } from "./DockerProvisionError.ts"

export { createRequest, summaryToMachine, toMachine } from "./DockerMachineMapping.ts"
export { toProvisionError } from "./DockerProvisionError.ts"

/** The Docker provisioner's options: daemon, image, container names, network, stop timeout, deadline checks, instance. */
export interface DockerOptions {
  /** `DOCKER_HOST`: `unix:///var/run/docker.sock` (default), `tcp://host:2375`, `http://…`. */
  readonly host?: string | undefined
  /** Image when the spec names none (`PORTER_MACHINE_IMAGE`). */
  readonly image?: string | undefined
  /** Container names are `<namePrefix><task id>`; default `porter-`. */
  readonly namePrefix?: string | undefined
  /** Remove containers when they end (default true). */
  readonly autoRemove?: boolean | undefined
  /**
   * Run `docker-init` as PID 1 (default false). Only for images without an init of their own: `docker-init` keeps
   * the container's whole environment, secrets included, where the image's processes can read it.
   */
  readonly init?: boolean | undefined
  /** `HostConfig.NetworkMode` (`bridge`, `host`, a network name); default the daemon's. */
  readonly network?: string | undefined
  /** `HostConfig.ExtraHosts`; default `["host.docker.internal:host-gateway"]`. */
  readonly extraHosts?: ReadonlyArray<string> | undefined
  /** Between the stop signal and SIGKILL when a deadline passes or `stop` is called; default 10 s. */
  readonly stopTimeoutSeconds?: number | undefined
  /** How often deadlines are checked; default 5 s. `false`: never (e.g. where nothing runs between requests). */
  readonly deadlineCheckMs?: number | false | undefined
  /**
   * Names this deployment when several share one daemon (`PORTER_DOCKER_INSTANCE`): its containers get the label
   * `porter.instance=<instance>`, and it sees and removes only those. Default: every Porter container is its own.
   */
  readonly instance?: string | undefined
  /** Overrides the image's command (tests; debugging). */
  readonly command?: ReadonlyArray<string> | undefined
  readonly requestTimeoutMs?: number | undefined
}

type Provisioner = MachineProvisioner.MachineProvisioner["Service"]

/** The Docker provisioner with its extras. Its layer provides `MachineProvisioner` too. */
export class DockerProvisioner extends Context.Service<
  DockerProvisioner,
  Provisioner & {
    /** Stops the container (stop signal, then SIGKILL); with auto-removal it is then gone. */
    readonly stop: (id: Ids.MachineId) => Effect.Effect<void, Errors.MachineNotFound | Errors.ProvisionError>
    /** The container's output (stdout and stderr interleaved), the last `tail` lines if given. */
    readonly logs: (
      id: Ids.MachineId,
      options?: { readonly tail?: number }
    ) => Effect.Effect<ReadonlyArray<string>, Errors.MachineNotFound | Errors.ProvisionError>
    /** Waits until the container is not running; its exit code. */
    readonly wait: (id: Ids.MachineId) => Effect.Effect<number, Errors.MachineNotFound | Errors.ProvisionError>
    /** Stops every running Porter container past its deadline now; how many. The layer runs this periodically. */
    readonly enforceDeadlines: Effect.Effect<number, Errors.ProvisionError>
    readonly engine: DockerEngine.DockerEngine["Service"]
  }
>()("@porter/docker/DockerProvisioner") {}

const DEFAULT_EXTRA_HOSTS = ["host.docker.internal:host-gateway"] as const

/** The Docker provisioner on a `DockerEngine`: one container per task, labelled with its task id. */
export const make = (
  options: DockerOptions = {}
): Effect.Effect<DockerProvisioner["Service"], never, DockerEngine.DockerEngine | Scope.Scope> =>
  Effect.gen(function*() {
    const engine = yield* DockerEngine.DockerEngine
    const prefix = options.namePrefix ?? "porter-"
    const instance = options.instance === "" ? undefined : options.instance
    // Porter's, and this deployment's when it has a name.
    const isOurs = (labels: Readonly<Record<string, string>> | null | undefined) =>
      isPorters(labels) && (instance === undefined || labels?.[DockerApi.LABEL_INSTANCE] === instance)
    const ourLabels = [
      `${DockerApi.LABEL_PORTER}=1`,
      ...(instance !== undefined ? [`${DockerApi.LABEL_INSTANCE}=${instance}`] : [])
    ]
    const defaultImage = options.image ?? PorterConfig.defaultMachineImage
    const stopTimeoutSeconds = options.stopTimeoutSeconds ?? 10
    const fail = (context: { readonly image?: string | undefined } = {}) => (error: DockerEngine.DockerEngineError) =>
      Effect.fail(toProvisionError(error, context))

    // CPUs the daemon has: a larger NanoCpus is refused, so larger guests are capped. Asked until it answers once.
    let hostCpus: number | undefined
    const maxCpus = Effect.suspend(() =>
      hostCpus !== undefined ? Effect.succeed(hostCpus) : engine.info.pipe(
        Effect.map((info) => (hostCpus = info.NCPU)),
        Effect.catch(() => Effect.succeed(undefined))
      )
    )

    /** Porter's container with this id or name, if any. */
    const inspect = (id: string) =>
      Effect.map(engine.inspectContainer(id), Option.filter((c) => isOurs(c.Config.Labels)))

    const liveWhere = (labels: ReadonlyArray<string>) =>
      engine.listContainers({ label: labels }).pipe(
        Effect.map((containers) =>
          MachineProvisioner.liveOldestFirst(containers.filter((c) => isOurs(c.Labels)).map(summaryToMachine))
        )
      )

    const findByTask = Effect.fn("DockerProvisioner.findByTask")(function*(taskId: Ids.TaskId) {
      const machines = yield* liveWhere([...ourLabels, `${DockerApi.LABEL_TASK_ID}=${taskId}`]).pipe(
        Effect.catch(fail())
      )
      return Option.fromNullishOr(machines[0])
    })

    const list = Effect.fn("DockerProvisioner.list")(function*() {
      return yield* liveWhere(ourLabels).pipe(Effect.catch(fail()))
    })

    const get = Effect.fn("DockerProvisioner.get")(function*(id: Ids.MachineId) {
      const found = yield* inspect(id).pipe(Effect.catch(fail()))
      if (Option.isNone(found)) return yield* new Errors.MachineNotFound({ machineId: id })
      return toMachine(found.value)
    })

    /** Starts a created container; a container that cannot start is removed, so a retry starts afresh. */
    const start = (id: string, image: string) =>
      engine.startContainer(id).pipe(
        Effect.catch((error) =>
          Effect.andThen(
            Effect.ignore(engine.removeContainer(id, { force: true })),
            Effect.fail(
              error.kind === "status" && (error.status === 400 || error.status === 500)
                ? new Errors.ProvisionError({
                  reason: "bad_config",
                  message: `Docker could not start a container of the runner image \`${image}\`${
                    error.engineMessage ? `: ${error.engineMessage}` : ""
                  }; check the image and PORTER_MACHINE_IMAGE`,
                  ...(error.status !== undefined ? { status: error.status } : {}),
                  cause: error
                })
                : toProvisionError(error, { image })
            )
          )
        )
      )

    const create = Effect.fn("DockerProvisioner.create")(function*(spec: MachineProvisioner.MachineSpec) {
      yield* Effect.annotateCurrentSpan({ taskId: spec.taskId })
      const image = spec.image ?? defaultImage
      const name = `${prefix}${spec.taskId}`
      const body = createRequest(spec, {
        image,
        maxCpus: yield* maxCpus,
        autoRemove: options.autoRemove ?? true,
        init: options.init ?? false,
        network: options.network,
        extraHosts: options.extraHosts ?? DEFAULT_EXTRA_HOSTS,
        stopTimeoutSeconds,
        command: options.command,
        instance
      })
      let id: string | undefined
      for (let attempt = 1; id === undefined; attempt++) {
        const created = yield* Effect.result(engine.createContainer(name, body))
        if (created._tag === "Success") {
          for (const warning of created.success.Warnings ?? []) {
            yield* Effect.logWarning("Docker warned about a machine", { taskId: spec.taskId, warning })
          }
          yield* start(created.success.Id, image)
          id = created.success.Id
          break
        }
        const error = created.failure
        if (!(error.kind === "status" && error.status === 409)) return yield* toProvisionError(error, { image })
        // The name is taken: most likely by this task's container from an attempt whose answer was lost.
        const existing = yield* engine.inspectContainer(name).pipe(Effect.catch(fail({ image })))
        if (Option.isSome(existing)) {
          const container = existing.value
          if (!isOurs(container.Config.Labels) || container.Config.Labels?.[DockerApi.LABEL_TASK_ID] !== spec.taskId) {
            return yield* new Errors.ProvisionError({
              reason: "conflict",
              message:
                `a container named ${name} exists and is not this task's machine; remove it (\`docker rm -f ${name}\`)`
            })
          }
          if (container.State.Status === "created") yield* start(container.Id, image)
          yield* Effect.logInfo("Docker machine already existed for the task", {
            taskId: spec.taskId,
            machineId: container.Id
          })
          id = container.Id
          break
        }
        // It was being removed as we asked: try again, a few times.
        if (attempt >= 3) return yield* toProvisionError(error, { image })
        yield* Effect.sleep(Duration.millis(200 * attempt))
      }
      const machine = yield* engine.inspectContainer(id).pipe(Effect.catch(fail({ image })))
      yield* Effect.logInfo("Docker machine started", { taskId: spec.taskId, machineId: id, image })
      // Already ended and auto-removed: it existed, briefly.
      return Option.match(machine, {
        onNone: () =>
          new MachineProvisioner.Machine({ id: id as Ids.MachineId, taskId: spec.taskId, state: "destroyed" }),
        onSome: toMachine
      })
    })

    const destroy = Effect.fn("DockerProvisioner.destroy")(function*(id: Ids.MachineId) {
      const found = yield* engine.inspectContainer(id).pipe(Effect.catch(fail()))
      if (Option.isNone(found)) return
      if (!isOurs(found.value.Config.Labels)) {
        return yield* new Errors.ProvisionError({
          reason: "bad_config",
          message: `container ${id} is not a Porter machine${
            instance !== undefined ? ` of the instance ${instance}` : ""
          } (no ${ourLabels.join(", ")} label); Porter does not remove it`
        })
      }
      const outcome = yield* engine.removeContainer(found.value.Id, { force: true }).pipe(Effect.catch(fail()))
      yield* Effect.logInfo("Docker machine destroyed", { machineId: found.value.Id, outcome })
    })

    const existing = (id: Ids.MachineId) =>
      Effect.flatMap(
        inspect(id).pipe(Effect.catch(fail())),
        (found) =>
          Option.isNone(found)
            ? Effect.fail(new Errors.MachineNotFound({ machineId: id }))
            : Effect.succeed(found.value)
      )

    const stop = Effect.fn("DockerProvisioner.stop")(function*(id: Ids.MachineId) {
      const container = yield* existing(id)
      yield* engine.stopContainer(container.Id, stopTimeoutSeconds).pipe(Effect.catch(fail()))
    })

    const logs = Effect.fn("DockerProvisioner.logs")(
      function*(id: Ids.MachineId, logOptions?: { readonly tail?: number }) {
        const container = yield* existing(id)
        const bytes = yield* engine.containerLogs(container.Id, logOptions ?? {}).pipe(Effect.catch(fail()))
        if (Option.isNone(bytes)) return yield* new Errors.MachineNotFound({ machineId: id })
        return DockerApi.logLines(bytes.value)
      }
    )

    const wait = Effect.fn("DockerProvisioner.wait")(function*(id: Ids.MachineId) {
      const container = yield* existing(id)
      const result = yield* engine.waitContainer(container.Id, "not-running").pipe(Effect.catch(fail()))
      if (Option.isNone(result)) return yield* new Errors.MachineNotFound({ machineId: id })
      return result.value.StatusCode
    })

    const enforceDeadlines = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const containers = yield* engine.listContainers({
        label: [...ourLabels, DockerApi.LABEL_DEADLINE],
        status: ["running"]
      }).pipe(Effect.catch(fail()))
      const overdue = containers.filter((c) => {
        const deadline = Number(c.Labels?.[DockerApi.LABEL_DEADLINE])
        return isOurs(c.Labels) && Number.isFinite(deadline) && deadline <= now
      })
      yield* Effect.forEach(overdue, (c) =>
        engine.stopContainer(c.Id, stopTimeoutSeconds).pipe(
          Effect.tap(() =>
            Effect.logInfo("stopped a Docker machine past its deadline", {
              machineId: c.Id,
              taskId: c.Labels?.[DockerApi.LABEL_TASK_ID]
            })
          ),
          Effect.catch((error) =>
            Effect.logWarning("could not stop an overdue Docker machine", { machineId: c.Id, error: error.message })
          )
        ), { concurrency: 4, discard: true })
      return overdue.length
    }).pipe(Effect.withSpan("DockerProvisioner.enforceDeadlines"))

    if (options.deadlineCheckMs !== false) {
      const every = Math.max(100, options.deadlineCheckMs ?? 5_000)
      yield* enforceDeadlines.pipe(
        Effect.catch((error) =>
          Effect.logWarning("checking Docker machine deadlines failed", { error: error.message })
        ),
        Effect.repeat(Schedule.spaced(Duration.millis(every))),
        Effect.forkScoped
      )
    }

    return DockerProvisioner.of({ create, get, findByTask, list, destroy, stop, logs, wait, enforceDeadlines, engine })
  })

/** The provisioner (and `MachineProvisioner`) with its own Engine client (`DockerEngine.layer`). */
export const layer = (
  options: DockerOptions = {}
): Layer.Layer<DockerProvisioner | MachineProvisioner.MachineProvisioner, DockerEngine.InvalidDockerHost> =>
  layerWithEngine(options).pipe(
    Layer.provide(DockerEngine.layer({ host: options.host, requestTimeoutMs: options.requestTimeoutMs }))
  )

/** The provisioner over a `DockerEngine` given elsewhere (another transport, a shared client). */
export const layerWithEngine = (
  options: DockerOptions = {}
): Layer.Layer<DockerProvisioner | MachineProvisioner.MachineProvisioner, never, DockerEngine.DockerEngine> =>
  Layer.effectContext(
    Effect.map(
      make(options),
      (service) =>
        Context.make(DockerProvisioner, service).pipe(Context.add(MachineProvisioner.MachineProvisioner, service))
    )
  )

/**
 * `DOCKER_HOST` (default the unix socket), `PORTER_MACHINE_IMAGE`, `PORTER_DOCKER_NETWORK`, `PORTER_DOCKER_INSTANCE`;
 * all optional.
 */
export const config: Config.Config<DockerOptions> = Config.all({
  host: Config.String("DOCKER_HOST").pipe(Config.withDefault(DockerApi.DEFAULT_HOST)),
  image: Config.String("PORTER_MACHINE_IMAGE").pipe(Config.withDefault(PorterConfig.defaultMachineImage)),
  network: Config.option(Config.String("PORTER_DOCKER_NETWORK")),
  instance: Config.option(Config.String("PORTER_DOCKER_INSTANCE"))
}).pipe(
  Config.map(({ host, image, instance, network }) => ({
    host,
    image,
    network: Option.getOrUndefined(network),
    instance: Option.getOrUndefined(instance)
  }))
)

/** The Docker provisioner from configuration (`DOCKER_HOST`, `PORTER_MACHINE_IMAGE`, `PORTER_DOCKER_*`). */
export const layerConfig: Layer.Layer<
  DockerProvisioner | MachineProvisioner.MachineProvisioner,
  Config.ConfigError | DockerEngine.InvalidDockerHost
> = Layer.unwrap(Effect.map(config, layer))

/**
 * The runner program: what one Porter machine does for one task.
 *
 *   decode env → `started` → (heartbeats) → `Work.work`: clone → branch → agent → lock down .git → verify →
 *   commit leftovers → change set → Porter publishes it → `completed`
 *
 * Every way a run can end is a `Report` (outcome + exit code); only Porter having ended the task already (a 409, or
 * its refusal of the change set) skips the `completed` callback. An answer that asks to stop (`stop`: cancelled, over
 * budget) stops the agent and turns the rest of the run into a checkpoint (`Work.StopSignal`). `layer` assembles the
 * services for Node.
 */
import * as NodeServices from "@effect/platform-node/NodeServices"
import { AgentCatalog, type Callback } from "@porter/core"
import { Clock, Deferred, Duration, Effect, Fiber, Layer, Option } from "effect"
import { FetchHttpClient } from "effect/http"
import * as AgentRunner from "./AgentRunner.ts"
import * as Callbacks from "./Callbacks.ts"
import { ExitCode } from "./ExitCode.ts"
import * as Git from "./Git.ts"
import { type MachineEnv, MachineEnvService, secretValues } from "./MachineEnv.ts"
import * as RunLog from "./RunLog.ts"
import * as Scrubber from "./Scrubber.ts"
import { clip, type Report, StopSignal, work } from "./Work.ts"

export { commitMessage, EarlyCloneRef, Refused, type Report, work } from "./Work.ts"

/** `started`, heartbeats while `work` runs, then `completed`; the exit code. */
export const run = Effect.gen(function*() {
  const env = yield* MachineEnvService
  const log = yield* RunLog.RunLog
  const callbacks = yield* Callbacks.Callbacks
  const { scrub } = yield* Scrubber.Scrubber

  const machineId = env.raw["FLY_MACHINE_ID"] ?? env.raw["PORTER_MACHINE_ID"]
  yield* log.line("runner", `Porter runner: task ${env.taskId}, ${env.agent} on ${env.repoFullName}#${env.issueNumber}`)
  // Porter is told in parallel with the clone: its answer only matters if it says stop.
  const stop = yield* Deferred.make<{ readonly exitCode: ExitCode; readonly why: string }>()
  const stopOn = (error: Callbacks.CallbackError) =>
    error._tag === "TaskEnded"
      ? Deferred.succeed(stop, {
        exitCode: ExitCode.TaskEnded,
        why: "Porter says the task has already ended (cancelled or timed out)"
      })
      : error._tag === "CallbackRefused"
      ? Deferred.succeed(stop, {
        exitCode: ExitCode.CallbackFailed,
        why: `Porter refused the callback: ${error.message}`
      })
      : log.line("runner", error.message)
  // Porter asks for a checkpoint (cancelled, over budget, past the deadline): the agent stops, its work is handed over.
  const checkpoint = yield* Deferred.make<string>()
  const heard = (answer: Callbacks.Answer) =>
    answer.stop === undefined ? Effect.void : Deferred.succeed(checkpoint, answer.stop).pipe(Effect.asVoid)
  const started = yield* Effect.forkChild(
    callbacks.send({ type: "started", step: "clone", ...(machineId !== undefined ? { machineId } : {}) }).pipe(
      Effect.flatMap(heard),
      Effect.catch(stopOn)
    )
  )
  const heartbeat = Effect.gen(function*() {
    const step = yield* log.currentStep
    yield* callbacks.send({ type: "heartbeat", step }).pipe(Effect.flatMap(heard), Effect.catch(stopOn))
  })
  const heartbeats = yield* Effect.forkChild(
    heartbeat.pipe(Effect.delay(Duration.millis(env.heartbeatIntervalMs)), Effect.forever)
  )

  // A safety net past the agent's own deadline: the clone and the change set must end too.
  const now = yield* Clock.currentTimeMillis
  const budget = Math.max(env.deadlineAt - now, 0) + 5 * 60_000
  const outcome = yield* Effect.raceFirst(
    work.pipe(
      Effect.provideService(StopSignal, Deferred.await(checkpoint)),
      Effect.timeoutOrElse({
        duration: Duration.millis(budget),
        orElse: () =>
          Effect.succeed<Report>({
            outcome: "error",
            exitCode: ExitCode.Unexpected,
            error: "the runner ran out of time"
          })
      }),
      Effect.map(Option.some)
    ),
    Deferred.await(stop).pipe(Effect.as(Option.none<Report>()))
  )
  yield* Fiber.interrupt(heartbeats)
  // `started` before `completed`, even when it is still being retried.
  yield* Fiber.await(started).pipe(Effect.timeoutOption("15 seconds"))

  if (Option.isNone(outcome)) {
    const reason = yield* Deferred.await(stop)
    yield* log.line("runner", `${reason.why}: stopped`)
    return reason.exitCode
  }
  const report = outcome.value
  if (report.ended !== undefined) {
    // Porter has ended the task itself (and said why on the issue): a `completed` would only be answered 409.
    yield* log.line("runner", `${report.ended}: stopped`)
    return report.exitCode
  }
  yield* log.step(`done: ${report.outcome}`)
  if (report.error !== undefined) yield* log.line("runner", `error: ${scrub(report.error)}`)
  const completed: Callback.CompletedEvent = {
    type: "completed",
    outcome: report.outcome,
    ...(report.summary !== undefined ? { summary: clip(scrub(report.summary), 20_000)! } : {}),
    ...(report.usage !== undefined ? { usage: report.usage } : {}),
    ...(report.error !== undefined ? { error: clip(scrub(report.error), 2_000)! } : {}),
    ...(report.checkpoint === true ? { checkpoint: true } : {}),
    logTail: yield* log.tail
  }
  const sent = yield* callbacks.send(completed).pipe(Effect.result)
  if (sent._tag === "Failure") {
    process.stderr.write(`porter-runner: completed callback: ${sent.failure.message}\n`)
    return sent.failure._tag === "TaskEnded" ? ExitCode.TaskEnded : ExitCode.CallbackFailed
  }
  return report.exitCode
}).pipe(Effect.withSpan("Runner.run"))

/** How the runner re-launches itself as the script agent. */
export type SelfCommand = AgentRunner.SelfCommand

/** Everything `run` needs, on Node, for a decoded environment. */
export const layer = (
  env: MachineEnv,
  self: SelfCommand,
  options: { readonly write?: (line: string) => void } = {}
) => {
  const scrubber = Scrubber.layer(secretValues(env.raw))
  const platform = Layer.mergeAll(NodeServices.layer, FetchHttpClient.layer)
  const runLog = RunLog.layer({ lines: env.logTailLines, ...(options.write ? { write: options.write } : {}) })
  const services = Layer.mergeAll(
    Callbacks.layer({
      url: env.callbackUrl,
      token: env.callbackToken,
      retries: env.callbackRetries,
      retryBaseMs: env.callbackRetryBaseMs
    }),
    Git.layer({ token: env.callbackToken, name: env.gitName, email: env.gitEmail }),
    AgentRunner.layer({ env, self }),
    AgentCatalog.layer,
    Layer.succeed(MachineEnvService, env)
  )
  return services.pipe(
    Layer.provideMerge(runLog),
    Layer.provideMerge(scrubber),
    Layer.provideMerge(platform)
  )
}

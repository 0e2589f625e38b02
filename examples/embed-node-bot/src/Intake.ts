/**
 * The bot's host with everything in memory except the webhook intake: the **real** `GitHubWebhooks` HMAC check and
 * decoding from `@porter/github`, in front of core's `Porter` over in-memory stores (or, with `storage`, the bot's
 * SQLite or PostgreSQL stores), the in-memory provisioner, repository writer and recording reporter from
 * `@porter/testing`, and an allow-all authorizer. Benchmarks fire signed deliveries at
 * it (`start()` gives `{ url, webhookSecret, close }`); tests can read what Porter did through `GitHubRecorder` and
 * `Machines`.
 *
 * What it cannot do: talk to GitHub or start real machines (nobody calls back, so tasks stay `provisioning` until the
 * sweep gives up on them), or keep anything in memory bounded over a very long run (every comment and machine is
 * recorded).
 */
import { Authorizer, Background, Ids, RepoTokens, type Settings } from "@porter/core"
import { GitHubWebhooks } from "@porter/github"
import {
  type GitHubRecorder,
  InMemoryProvisioner,
  InMemoryRepoWriter,
  type Machines,
  RecordingReporter
} from "@porter/testing"
import { Context, Effect, Exit, Layer, Redacted, Scope } from "effect"
import * as Bot from "./Bot.ts"
import type * as Storage from "./Storage.ts"

export interface IntakeOptions {
  /** Default 0: any free port. */
  readonly port?: number | undefined
  /** Default 127.0.0.1. */
  readonly host?: string | undefined
  /** The webhook secret deliveries are signed with; default random. */
  readonly webhookSecret?: string | undefined
  /**
   * What happens after a delivery is verified, decoded and claimed (recorded): `background` (default) runs Porter's
   * processing — authorize, record the task, acknowledge, dispatch — in a background fiber, as the bot does; `skip`
   * stops at the claim, for measuring the intake alone (verify, decode, record).
   */
  readonly processing?: "background" | "skip" | undefined
  readonly settings?: Settings.RepoSettings | undefined
  /** Default false: the watchdog does not sweep (a benchmark measures the intake). */
  readonly sweepIntervalMs?: number | false | undefined
  /** Default false. */
  readonly logRequests?: boolean | undefined
  /** Default `{ _tag: "memory" }`; the bot's SQLite or PostgreSQL stores to measure them. */
  readonly storage?: Storage.Choice | undefined
}

export interface RunningIntake {
  /** Where it listens: POST deliveries to `${url}/webhooks/github`. */
  readonly url: string
  readonly webhookSecret: string
  /** Stops the server and interrupts background work. */
  readonly close: () => Promise<void>
}

/** Background that drops the work: the intake stops once the delivery is claimed. */
const skipProcessing: Layer.Layer<Background.Background> = Layer.succeed(
  Background.Background,
  Background.Background.of({ run: () => Effect.void })
)

/** The intake host; also provides the in-memory controls (`GitHubRecorder`, `Machines`). */
export const layer = (
  options: IntakeOptions & { readonly webhookSecret: string }
): Layer.Layer<Bot.Services | GitHubRecorder | Machines, Bot.StartError> =>
  Bot.host(
    "memory",
    Layer.mergeAll(
      GitHubWebhooks.layer({ secret: Redacted.make(options.webhookSecret) }),
      RecordingReporter.layer,
      InMemoryProvisioner.layer,
      InMemoryRepoWriter.layer,
      Authorizer.layerAllowAll,
      RepoTokens.layerStatic(Redacted.make(`ghs_${Ids.randomToken(18)}`))
    ),
    {
      port: options.port ?? 0,
      host: options.host,
      settings: options.settings,
      sweepIntervalMs: options.sweepIntervalMs ?? false,
      logRequests: options.logRequests ?? false,
      storage: options.storage ?? { _tag: "memory" },
      // Nothing outlives an intake run: a key for this process, whatever the storage.
      taskTokenSecret: Redacted.make(Ids.randomToken()),
      background: options.processing === "skip" ? skipProcessing : Background.layerFork
    }
  )

/** Starts the intake in `scope`'s lifetime (Effect users). */
export const startScoped = (
  options: IntakeOptions = {}
): Effect.Effect<RunningIntake, Bot.StartError, Scope.Scope> =>
  Effect.gen(function*() {
    const webhookSecret = options.webhookSecret ?? Ids.randomToken()
    const scope = yield* Scope.fork(yield* Effect.scope)
    const context = yield* Layer.buildWithScope(layer({ ...options, webhookSecret }), scope)
    const bot = Context.get(context, Bot.Bot)
    return {
      url: bot.url,
      webhookSecret,
      close: () => Effect.runPromise(Scope.close(scope, Exit.void))
    }
  })

/**
 * Starts the intake for a plain Node script (a benchmark): resolves once it listens; `close()` stops it. Rejects
 * with the reason when it cannot start (a port in use).
 */
export const start = async (options: IntakeOptions = {}): Promise<RunningIntake> => {
  const scope = Effect.runSync(Scope.make())
  const exit = await Effect.runPromiseExit(Effect.provideService(startScoped(options), Scope.Scope, scope))
  if (Exit.isSuccess(exit)) return exit.value
  await Effect.runPromise(Scope.close(scope, exit))
  throw new Error(`the intake did not start: ${exit.cause}`)
}

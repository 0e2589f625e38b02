/** Deployment-wide settings of the orchestration (per-repository knobs live in `Settings`). */
import { Config, Context, Effect, Layer, Option, type Redacted } from "effect"
import { defaultGuest, type Guest } from "./MachineProvisioner.ts"
import type { Provider } from "./ModelUsage.ts"
import * as Providers from "./Providers.ts"

/** Porter's model gateway (`ModelGateway`). */
export interface GatewayOptions {
  /**
   * Each provider's API: the provider's own by default; a proxy, a compatible endpoint or (tests) the scripted model
   * server. OpenAI's includes `/v1`. A stored `ANTHROPIC_BASE_URL` / `OPENAI_BASE_URL` / `GOOGLE_GEMINI_BASE_URL`
   * secret replaces it for the user, repository or installation that holds it.
   */
  readonly upstreams: Readonly<Record<Provider, string>>
  /**
   * How long a task's state, keys, settings and spend are kept in memory between calls (per process or isolate):
   * a task that ended elsewhere, a key or setting changed, or other processes' spend are seen within this.
   */
  readonly cacheMs: number
  /** Request bodies larger than this are refused (413). */
  readonly maxRequestBytes: number
  /** A running task's status comment shows its spend, refreshed at most this often. */
  readonly statusIntervalMs: number
}

/** The options a host gives: any part of `PorterOptions`, the gateway's field by field. */
export type PorterInput = Partial<Omit<PorterOptions, "gateway">> & Pick<PorterOptions, "publicUrl"> & {
  readonly gateway?: Partial<Omit<GatewayOptions, "upstreams">> & {
    readonly upstreams?: Partial<Record<Provider, string>>
  }
}

/** Every deployment-wide setting, resolved. */
export interface PorterOptions {
  /** Where machines reach this deployment: callbacks go to `${publicUrl}/callbacks/tasks/:id`. */
  readonly publicUrl: string
  /** The GitHub REST API base the runner uses (GitHub Enterprise, the testkit emulator). */
  readonly githubApiUrl: string
  /** Where repositories are cloned from: `${gitBaseUrl}/<owner>/<name>.git`. */
  readonly gitBaseUrl: string
  /** The runner image for container-based provisioners; unset: the provisioner's own default. */
  readonly machineImage?: string
  readonly guest: Guest
  readonly region?: string
  /** A running task without a heartbeat for this long is timed out. */
  readonly heartbeatTimeoutMs: number
  /** The runner's heartbeat interval (passed to the machine as `HEARTBEAT_INTERVAL_MS`). */
  readonly heartbeatIntervalMs: number
  /** A queued or provisioning task untouched for this long is dispatched again… */
  readonly dispatchTimeoutMs: number
  /** …at most this many times in all, then failed. */
  readonly maxDispatchAttempts: number
  /** A delivery claimed but not handled after this long is handled again by the sweep… */
  readonly deliveryRetryAfterMs: number
  /** …at most this many times. */
  readonly maxDeliveryAttempts: number
  /** Orphan machines younger than this are left alone (their task may be being recorded). */
  readonly orphanGraceMs: number
  /** An outsider's request nobody with write access approved within this long is cancelled. */
  readonly approvalTimeoutMs: number
  /** A queued task that found no free slot within this long times out (it never started). */
  readonly queueTimeoutMs: number
  /** Webhook bodies larger than this are refused with 413. */
  readonly maxWebhookBytes: number
  /** Comments of the thread given to the agent. */
  readonly threadLimit: number
  /** Retries of a failed report (comment, reaction, label) before giving up; never affects the task. */
  readonly reportRetry: { readonly times: number; readonly baseDelayMs: number }
  /** Bearer token of the admin API and of `GET /tasks/:id` for any task; unset: admin API off. */
  readonly adminToken?: Redacted.Redacted<string>
  /** Extra plain environment for every machine (base URLs of model servers in local setups, …). */
  readonly machineEnv: Readonly<Record<string, string>>
  /** Named in a `Co-authored-by` trailer of every commit Porter makes for an agent. */
  readonly commitAuthor: { readonly name: string; readonly email: string }
  /** The model gateway's upstreams and limits. */
  readonly gateway: GatewayOptions
  /**
   * How long a task's machine has, once the task's deadline passed or it was asked to stop (cancelled, over its
   * budget), to hand over its work so far (a checkpoint: a work-in-progress commit and a draft pull request); the
   * watchdog ends the task only after it.
   */
  readonly checkpointGraceMs: number
  /**
   * The web app's transcript page for a task, when the host serves the web app (`<base>/<task id>/transcript`): the
   * final status comment links the transcript there; without it, to the secret gist that mirrors it (if any).
   */
  readonly transcriptBaseUrl?: string
}

/** Deployment-wide settings of the orchestration (per-repository knobs live in `Settings`). */
export class PorterConfig extends Context.Service<PorterConfig, PorterOptions>()("@porter/core/PorterConfig") {}

/** The runner image adapters fall back to when neither Porter nor their own options name one. */
export const defaultMachineImage = "registry.fly.io/porter-runner:0.1.0"

/** Every setting but `publicUrl`, as it is unless configured. */
export const defaults: Omit<PorterOptions, "publicUrl"> = {
  githubApiUrl: "https://api.github.com",
  gitBaseUrl: "https://github.com",
  guest: defaultGuest,
  heartbeatTimeoutMs: 5 * 60_000,
  heartbeatIntervalMs: 30_000,
  dispatchTimeoutMs: 3 * 60_000,
  maxDispatchAttempts: 3,
  deliveryRetryAfterMs: 2 * 60_000,
  maxDeliveryAttempts: 3,
  orphanGraceMs: 10 * 60_000,
  approvalTimeoutMs: 24 * 60 * 60_000,
  queueTimeoutMs: 24 * 60 * 60_000,
  maxWebhookBytes: 1024 * 1024,
  threadLimit: 20,
  reportRetry: { times: 4, baseDelayMs: 250 },
  machineEnv: {},
  commitAuthor: { name: "porter[bot]", email: "porter[bot]@users.noreply.github.com" },
  gateway: {
    upstreams: {
      anthropic: Providers.anthropic.defaultUpstream,
      openai: Providers.openai.defaultUpstream,
      gemini: Providers.gemini.defaultUpstream
    },
    cacheMs: 5_000,
    maxRequestBytes: 32 * 1024 * 1024,
    statusIntervalMs: 15_000
  },
  checkpointGraceMs: 30_000
}

/** The settings from `options`, the defaults for the rest. */
export const make = (options: PorterInput): PorterOptions => ({
  ...defaults,
  ...options,
  publicUrl: options.publicUrl.replace(/\/+$/, ""),
  gateway: {
    ...defaults.gateway,
    ...options.gateway,
    upstreams: { ...defaults.gateway.upstreams, ...options.gateway?.upstreams }
  }
})

/** `PorterConfig` from options given in code (the defaults for the rest, `make`). */
export const layer = (options: PorterInput): Layer.Layer<PorterConfig> =>
  Layer.succeed(PorterConfig, PorterConfig.of(make(options)))

/** The gateway's settings from configuration: `PORTER_GATEWAY_{ANTHROPIC,OPENAI,GEMINI}_URL`, `PORTER_GATEWAY_CACHE_MS`. */
const upstream = (spec: Providers.ProviderSpec) =>
  Config.String(spec.upstreamEnv).pipe(Config.withDefault(spec.defaultUpstream))

/** The model gateway's settings from configuration (`PORTER_GATEWAY_*`). */
export const gatewayConfig: Config.Config<GatewayOptions> = Config.all({
  anthropic: upstream(Providers.anthropic),
  openai: upstream(Providers.openai),
  gemini: upstream(Providers.gemini),
  cacheMs: Config.Int("PORTER_GATEWAY_CACHE_MS").pipe(Config.withDefault(defaults.gateway.cacheMs))
}).pipe(Config.map(({ cacheMs, ...upstreams }): GatewayOptions => ({ ...defaults.gateway, upstreams, cacheMs })))

/**
 * From configuration: `PORTER_PUBLIC_URL` (required), `GITHUB_API_URL`, `GITHUB_GIT_URL`, `PORTER_MACHINE_IMAGE`,
 * `PORTER_MACHINE_REGION`, `PORTER_ADMIN_TOKEN`, `PORTER_MACHINE_CPUS`, `PORTER_MACHINE_MEMORY_MB`,
 * `PORTER_HEARTBEAT_TIMEOUT_MS`, `PORTER_APPROVAL_TIMEOUT_MS`, `PORTER_QUEUE_TIMEOUT_MS`, `PORTER_CHECKPOINT_GRACE_MS`,
 * `PORTER_TRANSCRIPT_URL` (the web app's transcript pages, `<base>/<task id>/transcript`), and the gateway's
 * (`gatewayConfig`).
 */
export const layerConfig: Layer.Layer<PorterConfig, Config.ConfigError> = Layer.effect(
  PorterConfig,
  Effect.gen(function*() {
    const publicUrl = yield* Config.String("PORTER_PUBLIC_URL")
    const githubApiUrl = yield* Config.String("GITHUB_API_URL").pipe(Config.withDefault(defaults.githubApiUrl))
    const gitBaseUrl = yield* Config.String("GITHUB_GIT_URL").pipe(Config.withDefault(defaults.gitBaseUrl))
    const machineImage = yield* Config.option(Config.String("PORTER_MACHINE_IMAGE"))
    const region = yield* Config.option(Config.String("PORTER_MACHINE_REGION"))
    const adminToken = yield* Config.option(Config.Redacted("PORTER_ADMIN_TOKEN"))
    const cpus = yield* Config.Int("PORTER_MACHINE_CPUS").pipe(Config.withDefault(defaults.guest.cpus))
    const memoryMb = yield* Config.Int("PORTER_MACHINE_MEMORY_MB").pipe(Config.withDefault(defaults.guest.memoryMb))
    const heartbeatTimeoutMs = yield* Config.Int("PORTER_HEARTBEAT_TIMEOUT_MS").pipe(
      Config.withDefault(defaults.heartbeatTimeoutMs)
    )
    const approvalTimeoutMs = yield* Config.Int("PORTER_APPROVAL_TIMEOUT_MS").pipe(
      Config.withDefault(defaults.approvalTimeoutMs)
    )
    const queueTimeoutMs = yield* Config.Int("PORTER_QUEUE_TIMEOUT_MS").pipe(
      Config.withDefault(defaults.queueTimeoutMs)
    )
    const checkpointGraceMs = yield* Config.Int("PORTER_CHECKPOINT_GRACE_MS").pipe(
      Config.withDefault(defaults.checkpointGraceMs)
    )
    const transcriptBaseUrl = yield* Config.option(Config.String("PORTER_TRANSCRIPT_URL"))
    const gateway = yield* gatewayConfig
    return PorterConfig.of(make({
      gateway,
      publicUrl,
      githubApiUrl,
      gitBaseUrl,
      ...(Option.isSome(machineImage) ? { machineImage: machineImage.value } : {}),
      guest: { ...defaults.guest, cpus, memoryMb },
      heartbeatTimeoutMs,
      approvalTimeoutMs,
      queueTimeoutMs,
      checkpointGraceMs,
      ...(Option.isSome(transcriptBaseUrl) ? { transcriptBaseUrl: transcriptBaseUrl.value.replace(/\/+$/, "") } : {}),
      ...(Option.isSome(region) ? { region: region.value } : {}),
      ...(Option.isSome(adminToken) ? { adminToken: adminToken.value } : {})
    }))
  })
)

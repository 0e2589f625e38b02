/**
 * GatewayAccess: may this model call go through, with which key, within which budget — and, once it ended, what it
 * cost. For the gateway (`ModelGateway`), per call:
 *
 * 1. the credential: the task's gateway token (`TaskTokens`, purpose `gateway`), checked in constant time before
 *    anything is read; a wrong one and an unknown task look the same (401);
 * 2. the task: still active (403 once it ended) and before its deadline (403);
 * 3. the budgets (`Budgets`): a call that would start over the task's, the repository's or the requester's cap is
 *    refused (403) and the task is stopped `failed` with reason "budget reached" (after the answer, so the CLI shows
 *    it): a running machine first hands over its work so far (`TaskLifecycle.stop`, a checkpoint);
 * 4. the keys: resolved for the task's chain (user → repository → installation → global) in one read.
 *
 * What a call needs is kept per task for `gateway.cacheMs` (default 5 s) in this process or isolate — task, keys,
 * settings and spend — so a busy agent's calls cost no storage read; calls metered here are added at once. So: a task
 * that ended elsewhere, a changed key or setting, and other processes' spend are seen within that time.
 *
 * `count` prices a metered answer as it ends (`Pricing`, the repository's price table) and adds it to this process's
 * figures at once; `record` stores it (`UsageStore`) after the answer and, at most every `gateway.statusIntervalMs`
 * (15 s), shows the running task's spend in its status comment.
 */
import { Clock, Context, Effect, Layer, Option, Schema } from "effect"
import { Background } from "./Background.ts"
import * as Budgets from "./Budgets.ts"
import type { StoreError } from "./Errors.ts"
import type { TaskId } from "./Ids.ts"
import { chainOf } from "./MachineAccess.ts"
import type { Metered } from "./Metering.ts"
import { addCall, ModelCall, monthOf, type Provider, type Spend, toUsage, UsageStore } from "./ModelUsage.ts"
import { PorterConfig } from "./PorterConfig.ts"
import * as Pricing from "./Pricing.ts"
import * as Providers from "./Providers.ts"
import { type ResolvedSecret, type SecretName, SecretStore } from "./SecretStore.ts"
import { type RepoSettings, Settings } from "./Settings.ts"
import { StatusComments } from "./StatusComments.ts"
import { Task } from "./Task.ts"
import { TaskLifecycle } from "./TaskLifecycle.ts"
import { TaskStore } from "./TaskStore.ts"
import { TaskTokens, timingSafeEqual } from "./TaskTokens.ts"

/** Porter refuses the call itself; the gateway answers in the provider's format. */
export class GatewayRefused extends Schema.TaggedError<GatewayRefused>()("GatewayRefused", {
  refusal: Providers.Refusal,
  message: Schema.String
}) {}

/** What a call of an admitted task may use. */
export interface Grant {
  readonly task: Task
  readonly settings: RepoSettings
  readonly keys: ReadonlyMap<SecretName, ResolvedSecret>
  readonly caps: Budgets.Caps
  readonly month: string
  /** Stored spend when read, plus what this process metered since. */
  readonly spend: Spend
}

/** May this model call go through, with which key, within which budget — and, once it ended, what it cost. */
export class GatewayAccess extends Context.Service<GatewayAccess, {
  /** Checks the credential, the task and the budgets; the grant, or why not. */
  readonly admit: (taskId: string, presented: string | undefined) => Effect.Effect<Grant, GatewayRefused>
  /**
   * `admit`'s answer at once, without running an effect, when it needs nothing it does not hold: the credential
   * verified before and the task's grant kept (`now`: the time by the caller's `Clock`). `undefined` when it would
   * have to read, verify or end the task over its budget: then `admit`.
   */
  readonly admitNow: (taskId: string, presented: string | undefined, now: number) => Grant | GatewayRefused | undefined
  /**
   * A metered call of `grant`'s task started (its cost is charged when it ends). A plain function: it runs as the
   * answer's headers arrive.
   */
  readonly begin: (taskId: TaskId) => void
  /**
   * Prices a call that ended and counts it in this process at once (the task's next call sees it): run as the answer
   * ends, before the client can send another call.
   */
  readonly count: (grant: Grant, provider: Provider, metered: Metered) => Effect.Effect<ModelCall>
  /** Stores a counted call; shows the running task's spend now and then. Never fails. Run after the answer. */
  readonly record: (grant: Grant, call: ModelCall) => Effect.Effect<void>
}>()("@porter/core/GatewayAccess") {}

interface Entry {
  grant: Grant
  readonly expiresAt: number
  /** The grant's month ends (its spend is that month's). */
  readonly monthEndsAt: number
}

const CAPACITY = 1_000
const refused = (refusal: Providers.Refusal, message: string) => new GatewayRefused({ refusal, message })
const badCredential = refused("bad_credential", "missing or wrong task credential")

/** When the UTC month of `ms` ends (`monthOf` changes). */
const monthEndOf = (ms: number): number => {
  const date = new Date(ms)
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1)
}

/** The `GatewayAccess` service, built from its dependencies in the context. */
export const make = Effect.gen(function*() {
  const tokens = yield* TaskTokens
  const store = yield* TaskStore
  const secrets = yield* SecretStore
  const settingsService = yield* Settings
  const usage = yield* UsageStore
  const { gateway } = yield* PorterConfig
  const lifecycle = yield* TaskLifecycle
  const status = yield* StatusComments
  const background = yield* Background

  const cache = new Map<string, Entry>()
  /** Calls of a task whose cost is not recorded yet (a budget ending waits for them, briefly). */
  const inFlight = new Map<string, number>()
  const lastShown = new Map<string, number>()

  const unavailable = (error: StoreError) =>
    Effect.andThen(
      Effect.logError("the gateway could not read its state", { error: error.message }),
      Effect.fail(refused("unavailable", "Porter's storage is unavailable, retry later"))
    )

  const load = Effect.fnUntraced(function*(taskId: TaskId, now: number) {
    const found = yield* store.find(taskId)
    if (Option.isNone(found)) return yield* badCredential
    const task = found.value
    const month = monthOf(now)
    const [keys, settings, spend] = yield* Effect.all([
      secrets.resolveAll(Providers.secretNames, chainOf(task)),
      settingsService.forRepo(task.repo.fullName, task.installationId),
      usage.spend({ taskId, repo: task.repo.fullName, userId: task.requestedBy.id, month })
    ], { concurrency: "unbounded" })
    const grant: Grant = { task, settings, keys, month, spend, caps: Budgets.capsOf(settings, spend.budgetUsd) }
    if (cache.size >= CAPACITY) cache.delete(cache.keys().next().value!)
    cache.set(taskId, { grant, expiresAt: now + gateway.cacheMs, monthEndsAt: monthEndOf(now) })
    return grant
  }, (effect) =>
    Effect.catchTags(effect, {
      StoreError: unavailable,
      SecretDecryptionFailed: (error) => Effect.fail(refused("no_key", error.message))
    }))

  const waitForRecords = (taskId: string) =>
    Effect.gen(function*() {
      for (let i = 0; i < 100 && (inFlight.get(taskId) ?? 0) > 0; i++) yield* Effect.sleep("20 millis")
    })

  /** Ends the task for the reached budget (once). */
  const endOverBudget = Effect.fnUntraced(function*(grant: Grant, reason: string) {
    yield* waitForRecords(grant.task.id)
    // A running agent is asked to hand over its work so far first (a checkpoint); the gateway refuses its calls meanwhile.
    const ended = yield* lifecycle.stop(grant.task, "failed", reason).pipe(
      Effect.catch((error) =>
        Effect.as(Effect.logWarning("ending a task over budget failed", { error: error.message }), Option.none())
      )
    )
    if (Option.isSome(ended)) {
      const entry = cache.get(grant.task.id)
      if (entry !== undefined) entry.grant = { ...entry.grant, task: ended.value }
    }
  })

  /**
   * Refuses the call; the task is ended after the answer (in the background), so the agent's CLI shows the refusal
   * before its machine goes.
   */
  const overBudget = Effect.fnUntraced(function*(grant: Grant, reached: Budgets.Reached) {
    const who = { repo: grant.task.repo.fullName, login: grant.task.requestedBy.login, month: grant.month }
    const reason = Budgets.reason(reached, who)
    yield* background.run(endOverBudget(grant, reason))
    return yield* refused("budget_reached", `${reason}; the task is ending`)
  })

  /**
   * Whether `presented` is `taskId`'s gateway credential. A task has one: once verified (HMAC) it is kept, and later
   * calls compare against it in constant time instead of computing the HMAC again (WebCrypto is asynchronous: a
   * thread-pool round trip on Node).
   */
  const verified = new Map<string, string>()
  const verify = (taskId: string, presented: string): Effect.Effect<boolean> => {
    const known = verified.get(taskId)
    if (known !== undefined) return Effect.succeed(timingSafeEqual(known, presented))
    return Effect.map(tokens.verify(taskId, presented, "gateway"), (ok) => {
      if (ok) {
        if (verified.size >= CAPACITY) verified.delete(verified.keys().next().value!)
        verified.set(taskId, presented)
      }
      return ok
    })
  }

  /** The kept grant of `taskId`, while it is fresh (`gateway.cacheMs`, the same month). */
  const kept = (taskId: string, now: number): Grant | undefined => {
    const hit = cache.get(taskId)
    return hit !== undefined && hit.expiresAt > now && now < hit.monthEndsAt ? hit.grant : undefined
  }

  /** What the task and its budgets say of a call now: the grant, a refusal, or the budget it would start over. */
  const judge = (grant: Grant, now: number): Grant | GatewayRefused | Budgets.Reached => {
    const task = grant.task
    if (task.isTerminal) return refused("task_ended", `task ${task.id} has ended (${task.state})`)
    if (now > task.deadlineAt) return refused("past_deadline", `task ${task.id} is past its deadline`)
    const over = Budgets.reached(grant.caps, {
      taskUsd: grant.spend.task.costUsd,
      repoMonthUsd: grant.spend.repoMonthUsd,
      userMonthUsd: grant.spend.userMonthUsd
    })
    return over ?? grant
  }

  const admit = Effect.fnUntraced(function*(taskId: string, presented: string | undefined) {
    if (presented === undefined || !(yield* verify(taskId, presented))) return yield* badCredential
    const now = yield* Clock.currentTimeMillis
    const grant = kept(taskId, now) ?? (yield* load(taskId as TaskId, now))
    const judged = judge(grant, now)
    if (judged === grant) return grant
    if (judged instanceof GatewayRefused) return yield* judged
    return yield* overBudget(grant, judged as Budgets.Reached)
  })

  const admitNow = (taskId: string, presented: string | undefined, now: number) => {
    if (presented === undefined) return badCredential
    const known = verified.get(taskId)
    if (known === undefined) return undefined
    if (!timingSafeEqual(known, presented)) return badCredential
    const grant = kept(taskId, now)
    if (grant === undefined) return undefined
    const judged = judge(grant, now)
    return judged === grant || judged instanceof GatewayRefused ? judged : undefined
  }

  const begin = (taskId: TaskId) => void inFlight.set(taskId, (inFlight.get(taskId) ?? 0) + 1)

  const showSpend = Effect.fnUntraced(function*(taskId: TaskId, grant: Grant, now: number) {
    if (now - (lastShown.get(taskId) ?? 0) < gateway.statusIntervalMs) return
    lastShown.set(taskId, now)
    if (lastShown.size > CAPACITY) lastShown.delete(lastShown.keys().next().value!)
    // The stored task, so a state the task moved to meanwhile is never shown as running again.
    const latest = yield* store.find(taskId)
    if (Option.isNone(latest) || latest.value.state !== "running") return
    const spent = cache.get(taskId)?.grant.spend.task ?? grant.spend.task
    yield* status.show(new Task({ ...latest.value, usage: toUsage(spent, latest.value.usage) }), {
      capUsd: grant.caps.taskUsd
    })
  })

  const count = Effect.fnUntraced(function*(grant: Grant, provider: Provider, metered: Metered) {
    const task = grant.task
    const costUsd = Math.min(1e6, Pricing.costOf(metered, Pricing.priceFor(grant.settings.prices, metered.model)))
    const now = yield* Clock.currentTimeMillis
    // Counted here at once, so this process's next call sees it before the record is stored.
    const entry = cache.get(task.id)
    if (entry !== undefined) {
      const spend = entry.grant.spend
      entry.grant = {
        ...entry.grant,
        spend: {
          ...spend,
          task: addCall(spend.task, { ...metered, costUsd }),
          repoMonthUsd: spend.repoMonthUsd + costUsd,
          userMonthUsd: spend.userMonthUsd + costUsd
        }
      }
    }
    return new ModelCall({
      taskId: task.id,
      repo: task.repo.fullName,
      userId: task.requestedBy.id,
      provider,
      model: metered.model.slice(0, 200),
      inputTokens: metered.inputTokens,
      outputTokens: metered.outputTokens,
      cacheReadTokens: metered.cacheReadTokens,
      cacheWriteTokens: metered.cacheWriteTokens,
      costUsd,
      estimated: metered.estimated,
      at: now
    })
  })

  const record = Effect.fnUntraced(function*(grant: Grant, call: ModelCall) {
    const task = grant.task
    yield* usage.record(call).pipe(
      Effect.catch((error) => Effect.logError("recording a model call failed", { error: error.message })),
      Effect.ensuring(Effect.sync(() => {
        const left = (inFlight.get(task.id) ?? 1) - 1
        if (left > 0) inFlight.set(task.id, left)
        else inFlight.delete(task.id)
      }))
    )
    yield* showSpend(task.id, grant, call.at).pipe(
      Effect.catch((error) => Effect.logWarning("showing the spend failed", { error: error.message }))
    )
  })

  return GatewayAccess.of({ admit, admitNow, begin, count, record })
})

/** `GatewayAccess` as a layer (`make`). */
export const layer: Layer.Layer<
  GatewayAccess,
  never,
  | TaskTokens
  | TaskStore
  | SecretStore
  | Settings
  | UsageStore
  | PorterConfig
  | TaskLifecycle
  | StatusComments
  | Background
> = Layer.effect(GatewayAccess, make)

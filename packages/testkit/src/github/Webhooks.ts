/**
 * Webhook deliveries to the App's URL, the way GitHub sends them: JSON POSTs with `X-GitHub-Event`,
 * `X-GitHub-Delivery` (a GUID), `X-Hub-Signature-256` (HMAC-SHA256 of the exact body), `X-GitHub-Hook-ID`,
 * `X-GitHub-Hook-Installation-Target-Type/ID` and a `GitHub-Hookshot` user agent. A 10 s timeout, no
 * retries, no redirects followed.
 *
 * Deliveries leave after the API call that caused them has been answered (as on GitHub) and one at a
 * time, in the order of the actions. Every attempt is recorded (status, duration); a redelivery sends
 * the same body with the same GUID and is recorded as a new attempt. `flush` waits until nothing is
 * pending — including deliveries caused by calls the receiver made meanwhile.
 */
import { Deferred, Effect, Queue } from "effect"
import { createHmac, randomBytes, randomUUID } from "node:crypto"
import { iso } from "./Http.ts"
import type { Payloads } from "./Payloads.ts"
import type { Account, Issue, IssueComment, Label, Repo, ReviewComment, State } from "./State.ts"

const TIMEOUT_MS = 10_000

export interface Delivery {
  /** GitHub's numeric delivery id (one per attempt). */
  readonly deliveryId: number
  /** The `X-GitHub-Delivery` GUID, shared by redeliveries. */
  readonly guid: string
  readonly event: string
  readonly action: string | undefined
  readonly installationId: number | undefined
  readonly repositoryId: number | undefined
  readonly payload: unknown
  /** The exact bytes sent (and signed). */
  readonly body: string
  readonly redelivery: boolean
  url: string | undefined
  requestHeaders: Record<string, string>
  deliveredAt: number | undefined
  /** The receiver's HTTP status; `undefined` when not sent (no URL) or when the request failed. */
  status: number | undefined
  error: string | undefined
  durationMs: number | undefined
  responseHeaders: Record<string, string>
  responseBody: string | undefined
}

/** GitHub's one-word summary of an attempt (`status` in the App's delivery API). */
export const statusText = (delivery: Delivery): string =>
  delivery.status === undefined
    ? delivery.error ?? "pending"
    : delivery.status >= 200 && delivery.status < 300
    ? "OK"
    : `Invalid HTTP Response: ${delivery.status}`

interface Job {
  readonly delivery: Delivery
  readonly done: Deferred.Deferred<void>
}

export const make = Effect.fnUntraced(function*(state: State) {
  const queue = yield* Queue.unbounded<Job>()
  const all: Array<Delivery> = []
  const userAgent = `GitHub-Hookshot/${randomBytes(4).toString("hex").slice(0, 7)}`
  let pending = 0
  let idleWaiters: Array<Deferred.Deferred<void>> = []

  const send = Effect.fnUntraced(function*(delivery: Delivery) {
    const url = state.app.webhookUrl
    if (url === undefined) return
    const headers: Record<string, string> = {
      "accept": "*/*",
      "content-type": "application/json",
      "user-agent": userAgent,
      "x-github-delivery": delivery.guid,
      "x-github-event": delivery.event,
      "x-github-hook-id": String(state.app.hookId),
      "x-github-hook-installation-target-id": String(state.app.id),
      "x-github-hook-installation-target-type": "integration",
      "x-hub-signature": `sha1=${createHmac("sha1", state.app.webhookSecret).update(delivery.body).digest("hex")}`,
      "x-hub-signature-256": `sha256=${
        createHmac("sha256", state.app.webhookSecret).update(delivery.body).digest("hex")
      }`
    }
    delivery.url = url
    delivery.requestHeaders = headers
    delivery.deliveredAt = state.now()
    const started = performance.now()
    const outcome = yield* Effect.tryPromise(async (signal) => {
      const response = await fetch(url, {
        method: "POST",
        headers,
        body: delivery.body,
        redirect: "manual",
        signal: AbortSignal.any([signal, AbortSignal.timeout(TIMEOUT_MS)])
      })
      const text = await response.text()
      return { status: response.status, headers: Object.fromEntries(response.headers), body: text.slice(0, 4096) }
    }).pipe(Effect.result)
    delivery.durationMs = Math.round(performance.now() - started)
    if (outcome._tag === "Success") {
      delivery.status = outcome.success.status
      delivery.responseHeaders = outcome.success.headers
      delivery.responseBody = outcome.success.body
    } else {
      const cause = outcome.failure.cause
      delivery.error = cause instanceof Error && cause.name === "TimeoutError"
        ? "timed out"
        : `failed to connect: ${cause instanceof Error ? cause.message : String(cause)}`
    }
  })

  yield* Effect.forkScoped(Effect.forever(
    Effect.gen(function*() {
      const job = yield* Queue.take(queue)
      yield* send(job.delivery)
      yield* Deferred.succeed(job.done, undefined)
      pending -= 1
      if (pending === 0) {
        const waiters = idleWaiters
        idleWaiters = []
        for (const waiter of waiters) yield* Deferred.succeed(waiter, undefined)
      }
    })
  ))

  const schedule = (delivery: Delivery) =>
    Effect.gen(function*() {
      all.push(delivery)
      pending += 1
      const done = yield* Deferred.make<void>()
      yield* Queue.offer(queue, { delivery, done })
      return done
    })

  const record = (input: {
    readonly guid: string
    readonly event: string
    readonly action: string | undefined
    readonly installationId: number | undefined
    readonly repositoryId: number | undefined
    readonly payload: unknown
    readonly body: string
    readonly redelivery: boolean
  }): Delivery => ({
    ...input,
    deliveryId: state.nextId("delivery"),
    url: undefined,
    requestHeaders: {},
    deliveredAt: undefined,
    status: undefined,
    error: undefined,
    durationMs: undefined,
    responseHeaders: {},
    responseBody: undefined
  })

  /** Queues an event for the App; the caller's answer does not wait for it. */
  const emit = (event: string, payload: Record<string, unknown>, repo: Repo | undefined) =>
    Effect.gen(function*() {
      if (!state.app.events.includes(event)) return
      const installation = repo ? state.installationOf(repo.owner) : undefined
      yield* schedule(record({
        guid: randomUUID(),
        event,
        action: typeof payload["action"] === "string" ? payload["action"] : undefined,
        installationId: installation?.id,
        repositoryId: repo?.id,
        payload,
        body: JSON.stringify(payload),
        redelivery: false
      }))
    })

  /** Queues a resend of the last attempt with this GUID (or numeric id). */
  const startRedelivery = (id: string) =>
    Effect.gen(function*() {
      const original = [...all].reverse().find((delivery) => delivery.guid === id || String(delivery.deliveryId) === id)
      if (!original) return undefined
      const attempt = record({ ...original, redelivery: true })
      const done = yield* schedule(attempt)
      return { attempt, done }
    })

  /** Resends and waits: the new attempt, or `undefined` for an unknown delivery. */
  const redeliver = (id: string) =>
    Effect.gen(function*() {
      const started = yield* startRedelivery(id)
      if (!started) return undefined
      yield* Deferred.await(started.done)
      return started.attempt
    })

  const flush = Effect.gen(function*() {
    if (pending === 0) return
    const waiter = yield* Deferred.make<void>()
    idleWaiters.push(waiter)
    yield* Deferred.await(waiter)
  })

  return {
    emit,
    startRedelivery,
    redeliver,
    flush,
    list: (): ReadonlyArray<Delivery> => [...all],
    byId: (id: number) => all.find((delivery) => delivery.deliveryId === id)
  }
})

export type Webhooks = Effect.Success<ReturnType<typeof make>>

/** The events the emulator sends, with GitHub's payload shapes. */
export const makeEvents = (state: State, payloads: Payloads, webhooks: Webhooks) => {
  const organization = (repo: Repo) => {
    const org = state.org(repo.owner.id)
    if (!org) return {}
    const url = `${payloads.base}/orgs/${org.account.login}`
    return {
      organization: {
        login: org.account.login,
        id: org.account.id,
        node_id: org.account.nodeId,
        url,
        repos_url: `${url}/repos`,
        events_url: `${url}/events`,
        hooks_url: `${url}/hooks`,
        issues_url: `${url}/issues`,
        members_url: `${url}/members{/member}`,
        public_members_url: `${url}/public_members{/member}`,
        avatar_url: payloads.user(org.account).avatar_url,
        description: null
      }
    }
  }

  const envelope = (repo: Repo, sender: Account) => {
    const installation = state.installationOf(repo.owner)
    return {
      repository: payloads.repository(repo),
      ...organization(repo),
      sender: payloads.user(sender),
      ...(installation ? { installation: { id: installation.id, node_id: nodeIdOf(installation.id) } } : {})
    }
  }

  const nodeIdOf = (installationId: number) =>
    Buffer.from(`023:Integration::Installation${installationId}`).toString("base64")

  const webhookPull = (pr: Issue) => {
    const simple = payloads.pullSimple(pr)
    return simple
  }

  return {
    issues: (
      action: "opened" | "closed" | "reopened" | "edited" | "labeled" | "unlabeled",
      issue: Issue,
      sender: Account,
      extra: { readonly changes?: Record<string, { readonly from: string }>; readonly label?: Label } = {}
    ) =>
      webhooks.emit("issues", {
        action,
        issue: payloads.issue(issue),
        ...(extra.changes ? { changes: extra.changes } : {}),
        ...(extra.label ? { label: payloads.label(issue.repo, extra.label) } : {}),
        ...envelope(issue.repo, sender)
      }, issue.repo),

    issueComment: (
      action: "created" | "edited" | "deleted",
      comment: IssueComment,
      sender: Account,
      changes?: Record<string, { readonly from: string }>
    ) =>
      webhooks.emit("issue_comment", {
        action,
        issue: payloads.issue(comment.issue),
        comment: payloads.issueComment(comment),
        ...(changes ? { changes } : {}),
        ...envelope(comment.issue.repo, sender)
      }, comment.issue.repo),

    pullRequest: (
      action: "opened" | "closed" | "reopened" | "edited" | "labeled" | "unlabeled",
      pr: Issue,
      full: Record<string, unknown>,
      sender: Account,
      extra: { readonly changes?: Record<string, { readonly from: string }>; readonly label?: Label } = {}
    ) =>
      webhooks.emit("pull_request", {
        action,
        number: pr.number,
        pull_request: full,
        ...(extra.changes ? { changes: extra.changes } : {}),
        ...(extra.label ? { label: payloads.label(pr.repo, extra.label) } : {}),
        ...envelope(pr.repo, sender)
      }, pr.repo),

    /** `check_suite` (a check suite's JSON without its `repository`, which the envelope carries). */
    checkSuite: (action: "completed", checkSuite: Record<string, unknown>, repo: Repo, sender: Account) =>
      webhooks.emit("check_suite", { action, check_suite: checkSuite, ...envelope(repo, sender) }, repo),

    workflowRun: (
      action: "completed",
      workflowRun: Record<string, unknown>,
      workflow: Record<string, unknown>,
      repo: Repo,
      sender: Account
    ) =>
      webhooks.emit("workflow_run", { action, workflow_run: workflowRun, workflow, ...envelope(repo, sender) }, repo),

    reviewComment: (action: "created", comment: ReviewComment, sender: Account) =>
      webhooks.emit("pull_request_review_comment", {
        action,
        comment: payloads.reviewComment(comment),
        pull_request: webhookPull(comment.issue),
        ...envelope(comment.issue.repo, sender)
      }, comment.issue.repo)
  }
}

export type Events = ReturnType<typeof makeEvents>

/** A delivery as the App's `/app/hook/deliveries` API lists it. */
export const deliverySummary = (delivery: Delivery) => ({
  id: delivery.deliveryId,
  guid: delivery.guid,
  delivered_at: iso(delivery.deliveredAt ?? 0),
  redelivery: delivery.redelivery,
  duration: (delivery.durationMs ?? 0) / 1000,
  status: statusText(delivery),
  status_code: delivery.status ?? 0,
  event: delivery.event,
  action: delivery.action ?? null,
  installation_id: delivery.installationId ?? null,
  repository_id: delivery.repositoryId ?? null,
  throttled_at: null
})

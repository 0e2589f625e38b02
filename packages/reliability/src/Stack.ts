/**
 * The whole local stack the reliability suite runs on — `@porter/worker/stack`, the one `porter dev` and the
 * end-to-end tests start — with a fault-injecting proxy on each of Porter's wires:
 *
 *   GitHub emulator ──webhooks──▶ Worker (workerd via Miniflare, local D1; with the inspector, `Workerd.ts`)
 *   Worker, runner ──REST, git──▶ `github` proxy ──▶ GitHub emulator
 *   Worker ──Fly Machines API──▶ local machines server (its own faults: `machines.faults`) ──▶ machine processes
 *   machines ──callbacks──▶ `callbacks` proxy ──▶ Worker              (`PORTER_PUBLIC_URL` is the proxy)
 *
 * Machines are the real runner from its TypeScript sources (`porter dev`'s process machines), a tiny stand-in that
 * reports `started` then `completed: no_changes` with `curl` (`callback-machine.sh`, for soak runs where a Node
 * process per task would measure the machine rather than Porter), or a sleeper that never calls back (fuzzers). People act through the emulator's
 * REST API, as on GitHub; tests read what users see (comments, pull requests) and the admin API.
 *
 * Everything lives in the scope: closing it stops workerd, kills every machine and removes temporary directories.
 * Cannot: run without `git`, `curl` (stand-in machines) and workerd's binaries.
 */
import type { AdminApi } from "@porter/core"
import * as MachinesServer from "@porter/testkit/fly"
import * as GitHubEmulator from "@porter/testkit/github"
import type * as Local from "@porter/worker/local"
import * as LocalStack from "@porter/worker/stack"
import { Context, Effect, Layer, Option, Schedule, Scope } from "effect"
import { readdir, readFile } from "node:fs/promises"
import { fileURLToPath } from "node:url"
import * as FaultProxy from "./FaultProxy.ts"
import * as Workerd from "./Workerd.ts"

export type Person = GitHubEmulator.Person

export interface Comment {
  readonly id: number
  readonly body: string
  readonly user: { readonly login: string }
}

export interface TaskView extends AdminApi.TaskView {}

export interface AuditEvent {
  readonly taskId: string
  readonly at: number
  readonly kind: string
  readonly from?: string
  readonly to?: string
  readonly detail?: string
}

export interface Options {
  /**
   * What each machine runs: the real runner (default), the `curl` stand-in, or a sleeper that never calls back
   * (the testkit's fake machine: a fuzzer plays the runner).
   */
  readonly machines?: "runner" | "stand-in" | "sleeper" | undefined
  /** More Worker variables and secrets (they win). */
  readonly workerEnv?: Readonly<Record<string, string>> | undefined
  /** Extra plain environment for every machine (`PORTER_MACHINE_ENV`). */
  readonly machineEnv?: Readonly<Record<string, string>> | undefined
  /** A Worker bundle to share between stacks. */
  readonly script?: string | undefined
  /** Raise the per-repository and per-user limits of active tasks (soak runs). */
  readonly limits?: number | undefined
  /** The machines server's API token (`FLY_API_TOKEN`); default random. */
  readonly flyToken?: string | undefined
  /**
   * Mirror every task's artifacts (session, transcript, diff) to secret gists of a user of the emulator
   * (`PORTER_GIST_TOKEN`), through the GitHub proxy like every other call to GitHub.
   */
  readonly gistMirror?: boolean | undefined
}

export class Stack extends Context.Service<Stack, {
  readonly worker: Local.LocalWorker
  readonly github: GitHubEmulator.Emulator
  /** In front of the emulator for the Worker and the machines (REST and git). */
  readonly githubProxy: FaultProxy.FaultProxy
  /** In front of the Worker for the machines' callbacks. */
  readonly callbackProxy: FaultProxy.FaultProxy
  readonly machines: MachinesServer.Server
  readonly adminToken: string
  /** The gist mirror's user (its token reads the gists), when `gistMirror`. */
  readonly gistUser: Person | undefined
  /** `owner/name` of the repository the tests work on. */
  readonly repo: string
  readonly owner: Person
  /** A collaborator with write access. */
  readonly writer: Person
  /** The Worker's console lines, all of them. */
  readonly workerLogs: () => ReadonlyArray<Local.LogLine>
  /** The workerd processes of this stack (Linux: CPU and memory figures). */
  readonly workerdPids: ReadonlyArray<number>
  /** The Worker isolate's V8 heap after a full GC, MiB (workerd's inspector). */
  readonly isolateHeapMiB: () => Promise<number>
}>()("@porter/reliability/Stack") {}

/** The stand-in machine: `started`, then `completed` with `no_changes`, over `curl`. */
export const standInCommand = (): MachinesServer.Command => ({
  command: "sh",
  args: [fileURLToPath(new URL("./callback-machine.sh", import.meta.url))]
})

const workerdChildren = (): Effect.Effect<ReadonlyArray<number>> =>
  Effect.promise(async () => {
    const pids: Array<number> = []
    for (const entry of await readdir("/proc").catch(() => [] as Array<string>)) {
      if (!/^\d+$/.test(entry)) continue
      const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "")
      const close = stat.lastIndexOf(")")
      if (stat.slice(stat.indexOf("(") + 1, close) !== "workerd") continue
      if (Number(stat.slice(close + 2).split(" ")[1]) === process.pid) pids.push(Number(entry))
    }
    return pids
  })

/** A REST call to the emulator as `token`; a non-2xx answer is a defect naming GitHub's message. */
export const restAt = <A = unknown>(base: string, token: string, method: string, path: string, body?: unknown) =>
  Effect.promise(() => GitHubEmulator.rest<A>(token, method, `${base}${path}`, body))

export const make = (options: Options = {}): Effect.Effect<Stack["Service"], never, Scope.Scope> =>
  Effect.gen(function*() {
    const github = yield* GitHubEmulator.start()
    const githubProxy = yield* FaultProxy.start({ target: github.url })
    const callbackProxy = yield* FaultProxy.start()
    const adminToken = `reliability-admin-${crypto.randomUUID()}`
    const gistUser = options.gistMirror === true
      ? yield* Effect.promise(() => github.createUser("porter-mirror"))
      : undefined
    const lines: Array<Local.LogLine> = []
    const before = new Set(yield* workerdChildren())
    // The shared local stack, with the proxies on the Worker's and the machines' wires to GitHub and back.
    const { machines, worker } = yield* LocalStack.start({
      emulator: github,
      script: options.script,
      machinesToken: options.flyToken,
      machineCommand: options.machines === "stand-in"
        ? standInCommand()
        : options.machines === "sleeper"
        ? MachinesServer.fakeMachineCommand()
        : undefined,
      adminToken,
      inspectorPort: 0,
      onWorkerLog: (line) => void lines.push(line),
      workerEnv: {
        PORTER_PUBLIC_URL: callbackProxy.url,
        GITHUB_API_URL: githubProxy.url,
        GITHUB_GIT_URL: githubProxy.url,
        PORTER_HEARTBEAT_TIMEOUT_MS: "3000",
        PORTER_HEARTBEAT_INTERVAL_MS: "500",
        PORTER_SETTINGS_CACHE_MS: "0",
        PORTER_MACHINE_ENV: JSON.stringify({
          PORTER_CALLBACK_RETRIES: "3",
          PORTER_CALLBACK_RETRY_BASE_MS: "100",
          ...options.machineEnv
        }),
        ...(gistUser !== undefined ? { PORTER_GIST_TOKEN: gistUser.token } : {}),
        ...options.workerEnv
      }
    }).pipe(Effect.orDie)
    const isolateHeapMiB = yield* Workerd.heapProbe(worker)
    const workerdPids = (yield* workerdChildren()).filter((pid) => !before.has(pid))
    callbackProxy.setTarget(worker.url)

    const owner: Person = github.admin
    yield* restAt(github.url, owner.token, "POST", "/user/repos", { name: "widgets", auto_init: true })
    const repo = `${owner.login}/widgets`
    const writer = yield* Effect.promise(() => github.createUser("wendy"))
    yield* restAt(github.url, owner.token, "PUT", `/repos/${repo}/collaborators/${writer.login}`, {
      permission: "push"
    })
    const stack = Stack.of({
      worker,
      github,
      githubProxy,
      callbackProxy,
      machines,
      adminToken,
      gistUser,
      repo,
      owner,
      writer,
      workerLogs: () => [...lines],
      workerdPids,
      isolateHeapMiB
    })
    if (options.limits !== undefined) {
      yield* adminCall(stack, "PUT", "/admin/settings", {
        scope: "global",
        settings: { maxActivePerRepo: options.limits, maxActivePerUser: options.limits }
      })
    }
    return stack
  })

export const layer = (options: Options = {}): Layer.Layer<Stack> => Layer.effect(Stack, make(options))

const adminCall = <A>(stack: Stack["Service"], method: string, path: string, body?: unknown) =>
  Effect.promise(async () => {
    const response = await stack.worker.fetch(`${stack.worker.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${stack.adminToken}`,
        ...(body === undefined ? {} : { "content-type": "application/json" })
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
    const text = await response.text()
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text.slice(0, 500)}`)
    return JSON.parse(text) as A
  })

/** A call to the Worker's admin API; a non-2xx answer is a defect. */
export const admin = <A = unknown>(method: string, path: string, body?: unknown) =>
  Stack.use((stack) => adminCall<A>(stack, method, path, body))

export const rest = <A = unknown>(token: string, method: string, path: string, body?: unknown) =>
  Stack.use(({ github }) => restAt<A>(github.url, token, method, path, body))

/** A new issue, opened by the repository owner; its number. */
export const openIssue = (title: string) =>
  Effect.gen(function*() {
    const { owner, repo } = yield* Stack
    const issue = yield* rest<{ readonly number: number }>(owner.token, "POST", `/repos/${repo}/issues`, {
      title,
      body: ""
    })
    return issue.number
  })

/** `person` comments on the issue; the emulator signs and delivers the webhook (after this returns). */
export const comment = (person: Person, issue: number, body: string) =>
  Effect.gen(function*() {
    const { repo } = yield* Stack
    return yield* rest<Comment>(person.token, "POST", `/repos/${repo}/issues/${issue}/comments`, { body })
  })

/** Waits until every webhook the emulator has queued was answered. */
export const deliveriesAnswered = Stack.use(({ github }) => Effect.promise(() => github.deliveries()))

/** Every task of the stack's repository (admin API, newest first). */
export const tasks = Effect.gen(function*() {
  const { repo } = yield* Stack
  const all: Array<TaskView> = []
  let before: string | undefined
  for (;;) {
    const query = `/admin/tasks?repo=${encodeURIComponent(repo)}&limit=500${before ? `&before=${before}` : ""}`
    const page = yield* admin<{ readonly tasks: ReadonlyArray<TaskView> }>("GET", query)
    for (const task of page.tasks) all.push(task)
    if (page.tasks.length < 500) return all
    before = page.tasks.at(-1)!.id
  }
})

/** A task and its audit trail. */
export const taskById = (id: string) =>
  admin<{ readonly task: TaskView; readonly events: ReadonlyArray<AuditEvent> }>("GET", `/admin/tasks/${id}`)

/** Porter's comments on an issue, oldest first. */
export const porterComments = (issue: number) =>
  Effect.gen(function*() {
    const { github, owner, repo } = yield* Stack
    const all: Array<Comment> = []
    for (let page = 1;; page++) {
      const batch = yield* rest<ReadonlyArray<Comment>>(
        owner.token,
        "GET",
        `/repos/${repo}/issues/${issue}/comments?per_page=100&page=${page}`
      )
      for (const comment of batch) all.push(comment)
      if (batch.length < 100) break
    }
    return all.filter((c) => c.user.login === github.app.botLogin)
  })

/**
 * Fires the Cron Trigger (the watchdog sweep) every `everyMs` until `done` holds; fails after `timeoutMs` with the
 * Worker's last log lines.
 */
export const sweepUntil = <E, R>(what: string, done: Effect.Effect<boolean, E, R>, timeoutMs = 60_000, everyMs = 500) =>
  Effect.gen(function*() {
    const { worker, workerLogs } = yield* Stack
    const check = Effect.flatMap(done, (ok) => (ok ? Effect.void : Effect.fail("pending" as const)))
    const result = yield* check.pipe(
      Effect.tapError(() => Effect.promise(() => worker.scheduled())),
      Effect.retry(Schedule.spaced(`${everyMs} millis`)),
      Effect.timeoutOption(`${timeoutMs} millis`)
    )
    if (Option.isNone(result)) {
      const logs = workerLogs().slice(-20).map((line) => line.message.slice(0, 400)).join("\n")
      return yield* Effect.die(new Error(`timed out waiting for ${what}; the Worker's last log lines:\n${logs}`))
    }
  })

/**
 * Comment → agent start, on the local stack `porter dev` runs: the built Worker in workerd (Miniflare's API, local
 * D1), the GitHub emulator (its App installed, webhooks to the Worker), the local machines server in process mode
 * (the Fly Machines API on loopback; each machine a child process running the runner).
 *
 *   node --conditions=@porter/source bench/agent-start/run.ts [--runs 10]
 *
 * A collaborator with write access comments `@porter script …` on an issue through the emulator's REST API; the
 * emulator signs and delivers the webhook. Times (epoch ms, one host clock):
 * - **webhook sent**: the emulator's delivery record (`deliveredAt`, in milliseconds), **answered**: + its `durationMs`;
 * - **machine requested**: the machines server's `createdAt` (the Worker's Fly create call arrived);
 * - **process started**: `performance.timeOrigin` of the runner's process, **clone done** and **agent started**: its
 *   `==> branch` and `==> agent` lines — stamped by `stamp.ts`, preloaded with `--import` (it changes nothing the
 *   runner does).
 *
 * "Machine start" is machine requested → process started (here a process spawn; on Fly a VM boot, which cannot be
 * measured here). "Porter's own overhead" is everything else: the Worker's intake and background dispatch
 * (authorize, record, 👀 + status comment, secrets, token, thread, prompt, the create call) and the runner until the
 * agent (decode, callbacks, clone, branch). Two runner builds: the bundle the machine image ships (with Node's compile
 * cache, as the image has it, warmed by the warm-up comment), and the TypeScript sources (`porter dev`'s process
 * machines, no compile cache). Each task runs to its end (machine gone, task terminal, every
 * webhook delivered) before the next comment. A third,
 * traced pass (bundle runner, 5 comments) puts a recording proxy in front of GitHub and the machines API and prints
 * the calls the dispatch made, in order, for the median run.
 */
import { EncryptionKeys } from "@porter/d1"
import { FaultProxy } from "@porter/reliability"
import * as MachinesServer from "@porter/testkit/fly"
import * as GitHubEmulator from "@porter/testkit/github"
import * as Local from "@porter/worker/local"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { buildBundle, removeTempDirs } from "../../packages/runner/test/support/Harness.ts"
import { fixed, machine, median, table } from "../worker/support.ts"

const args = process.argv.slice(2)
const at = args.indexOf("--runs")
const runs = at >= 0 ? Number(args[at + 1]) : 10
const stamp = fileURLToPath(new URL("./stamp.ts", import.meta.url))
const ADMIN = "bench-admin-token-0123456789abcdef"

interface Sample {
  readonly sent: number
  readonly answered: number
  readonly requested: number
  readonly started: number
  readonly cloned: number
  readonly agent: number
}

const rest = async <A>(base: string, token: string, method: string, path: string, body?: unknown): Promise<A> => {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      accept: "application/vnd.github+json",
      "content-type": "application/json"
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  const text = await response.text()
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text.slice(0, 300)}`)
  return (text === "" ? undefined : JSON.parse(text)) as A
}

const until = async <A>(
  what: string,
  probe: () => Promise<A | undefined> | A | undefined,
  timeoutMs = 60_000
): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const found = await probe()
    if (found !== undefined) return found
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

interface Call {
  readonly at: number
  readonly ms: number
  readonly what: string
}

const measure = async (
  label: string,
  runnerArgs: ReadonlyArray<string>,
  traced = false,
  count = runs,
  compileCache = true
): Promise<{ readonly samples: ReadonlyArray<Sample>; readonly calls: ReadonlyArray<ReadonlyArray<Call>> }> => {
  const home = mkdtempSync(join(tmpdir(), "porter-bench-home-"))
  const github = await GitHubEmulator.startPromise()
  // Traced runs put a recording proxy in front of GitHub and the machines API, to see what the dispatch waits for.
  const githubProxy = traced ? await FaultProxy.startPromise({ target: github.url }) : undefined
  const machines = await MachinesServer.startPromise({
    inheritEnv: [],
    command: {
      command: process.execPath,
      args: ["--import", stamp, ...runnerArgs],
      env: {
        PATH: process.env["PATH"] ?? "/usr/bin:/bin",
        HOME: home,
        // As in the image (its build warms the cache; here the warm-up comment does).
        ...(compileCache ? { NODE_COMPILE_CACHE: join(home, "compile-cache") } : {})
      }
    }
  })
  const flyProxy = traced ? await FaultProxy.startPromise({ target: machines.url.replace(/\/v1$/, "") }) : undefined
  const worker = await Local.startPromise({
    env: {
      GITHUB_API_URL: githubProxy?.url ?? github.url,
      GITHUB_GIT_URL: github.url,
      GITHUB_APP_ID: String(github.app.id),
      GITHUB_APP_PRIVATE_KEY: github.app.privateKeyPkcs1,
      GITHUB_WEBHOOK_SECRET: github.app.webhookSecret,
      PORTER_ENCRYPTION_KEY: EncryptionKeys.generate(),
      PORTER_ADMIN_TOKEN: ADMIN,
      FLY_APP_NAME: machines.app,
      FLY_API_TOKEN: machines.token,
      FLY_API_URL: flyProxy ? `${flyProxy.url}/v1` : machines.url,
      PORTER_MACHINE_IMAGE: "porter-runner:local"
    }
  })
  const samples: Array<Sample> = []
  const calls: Array<ReadonlyArray<Call>> = []
  try {
    await github.setWebhook(`${worker.url}/webhooks/github`)
    const owner = github.admin
    await rest(github.url, owner.token, "POST", "/user/repos", { name: "widgets", auto_init: true })
    const repo = `${owner.login}/widgets`
    const writer = await github.createUser("wendy")
    await rest(github.url, owner.token, "PUT", `/repos/${repo}/collaborators/${writer.login}`, { permission: "push" })

    for (let run = 0; run <= count; run++) {
      const issue = await rest<{ number: number }>(github.url, owner.token, "POST", `/repos/${repo}/issues`, {
        title: `bench ${run}`
      })
      const comment = await rest<{ id: number }>(
        github.url,
        writer.token,
        "POST",
        `/repos/${repo}/issues/${issue.number}/comments`,
        {
          body: `@porter script add a line\n\n\`\`\`porter-script\nappend NOTES.md - run ${run}\n\`\`\``
        }
      )
      const delivery = await until(
        "the delivery",
        async () =>
          (await github.deliveries()).find((d) =>
            (d.payload as { comment?: { id?: number } }).comment?.id === comment.id
          )
      )
      const machineView = await until(
        "the machine",
        () =>
          machines.machines().find((m) =>
            m.env["ISSUE_NUMBER"] === String(issue.number) && m.env["REPO_FULL_NAME"] === repo
          )
      )
      const stamps = await until("the agent step", () => {
        const output = machines.logs(machineView.id)
        const origin = /\[porter-bench\] origin ([\d.]+)/.exec(output)?.[1]
        const cloned = /\[porter-bench\] step branch ([\d.]+)/.exec(output)?.[1]
        const agent = /\[porter-bench\] step agent ([\d.]+)/.exec(output)?.[1]
        return origin && cloned && agent
          ? { origin: Number(origin), cloned: Number(cloned), agent: Number(agent) }
          : undefined
      })
      // The task runs to its end (push, pull request, callback) before the next comment: its machine gone, the task
      // terminal in the Worker's store (its final status edit made), and every webhook GitHub owes the Worker sent
      // (`deliveries()` waits for them), so nothing of this run is still under way when the next one is timed.
      await until(
        "the machine to end",
        () => (["stopped", "destroyed", "failed"].includes(machines.machine(machineView.id)?.state ?? "")
          ? true
          : undefined)
      )
      await until("the task to end", async () => {
        const view = await rest<{ state: string }>(worker.url, ADMIN, "GET", `/tasks/${machineView.env["TASK_ID"]}`)
        return ["succeeded", "failed", "timed_out", "cancelled"].includes(view.state) ? true : undefined
      })
      await github.deliveries()
      if (run === 0) continue // warm-up: the isolate's first tokens and caches
      const sent = Date.parse(delivery.deliveredAt ?? "")
      const window = (x: FaultProxy.Exchange) => x.started >= sent && x.started <= stamps.agent
      calls.push([
        ...(githubProxy?.exchanges().filter(window).map((x) => ({
          at: x.started - sent,
          ms: x.at - x.started,
          what: `GitHub ${x.method} ${x.path.split("?")[0]}`
        })) ?? []),
        ...(flyProxy?.exchanges().filter(window).map((x) => ({
          at: x.started - sent,
          ms: x.at - x.started,
          what: `Fly ${x.method} ${x.path.split("?")[0]}`
        })) ?? [])
      ].sort((a, b) => a.at - b.at))
      samples.push({
        sent,
        answered: sent + (delivery.durationMs ?? 0),
        requested: machineView.createdAt,
        started: stamps.origin,
        cloned: stamps.cloned,
        agent: stamps.agent
      })
      process.stderr.write(`\r${label}: ${run}/${count} `)
    }
    process.stderr.write("\n")
  } finally {
    await worker.close()
    await machines.close()
    await githubProxy?.close()
    await flyProxy?.close()
    await github.close()
    rmSync(home, { recursive: true, force: true })
  }
  return { samples, calls }
}

console.log(`Machine: ${await machine()}; ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC.\n`)
const bundle = await buildBundle()
const variants: Array<readonly [string, ReadonlyArray<Sample>]> = []
let trace: Awaited<ReturnType<typeof measure>> | undefined
try {
  variants.push(["runner bundle (the image's)", (await measure("bundle", [bundle])).samples])
  variants.push([
    "runner from TypeScript sources (`porter dev`)",
    (await measure(
      "sources",
      ["--conditions=@porter/source", fileURLToPath(new URL("../../packages/runner/src/main.ts", import.meta.url))],
      false,
      runs,
      false
    )).samples
  ])
  trace = await measure("traced", [bundle], true, Math.min(5, runs))
} finally {
  removeTempDirs()
}

console.log(`### Comment → agent start (local stack, process machines)\n`)
console.log(
  `Medians of ${runs} comments after one for warm-up (ms). Target: ≤ 1,000 ms here; ≤ 3 s on Fly ` +
    "(a Fly VM boot replaces the process spawn — not measurable here).\n"
)
const m = (samples: ReadonlyArray<Sample>, f: (s: Sample) => number) => fixed(median(samples.map(f)), 0)
console.log(table(
  [
    "runner",
    "webhook answered",
    "→ machine requested",
    "→ process started (machine start)",
    "→ clone done",
    "→ agent started",
    "total",
    "Porter's own (total − machine start)",
    "totals (ms)"
  ],
  variants.map(([label, samples]) => [
    label,
    m(samples, (s) => s.answered - s.sent),
    m(samples, (s) => s.requested - s.answered),
    m(samples, (s) => s.started - s.requested),
    m(samples, (s) => s.cloned - s.started),
    m(samples, (s) => s.agent - s.cloned),
    m(samples, (s) => s.agent - s.sent),
    m(samples, (s) => s.agent - s.sent - (s.started - s.requested)),
    samples.map((s) => (s.agent - s.sent).toFixed(0)).join(" ")
  ])
))

if (trace !== undefined && trace.samples.length > 0) {
  // The traced run whose total is the median one.
  const order = trace.samples.map((s, i) => [s.agent - s.sent, i] as const).sort((a, b) => a[0] - b[0])
  const index = order[Math.floor(order.length / 2)]![1]
  const sample = trace.samples[index]!
  const calls = trace.calls[index]!
  console.log(
    `\nWhat the dispatch waits for: the calls to GitHub and the machines API of the median of ${trace.samples.length} ` +
      "traced runs (bundle runner; a recording proxy in front of each, so a little slower), ms since the webhook was sent:\n"
  )
  console.log(table(
    ["at", "ms", "call"],
    [
      [fixed(sample.answered - sample.sent, 0), "", "webhook answered"],
      ...calls.map((
        c
      ) => [fixed(c.at, 0), fixed(c.ms, 0), c.what.replace(/\/\d+/g, "/…").replace(/\/[0-9a-f]{14}\b/g, "/…")]),
      [fixed(sample.requested - sample.sent, 0), "", "machine requested (machines server)"],
      [fixed(sample.started - sample.sent, 0), "", "runner process started"],
      [fixed(sample.agent - sample.sent, 0), "", "agent started"]
    ]
  ))
  const github = calls.filter((c) => c.what.startsWith("GitHub") && c.at < sample.requested - sample.sent)
  console.log(
    `\nBefore the machine was requested: ${github.length} GitHub calls taking ${
      fixed(github.reduce((n, c) => n + c.ms, 0), 0)
    } ms ` +
      `in all, of the ${fixed(sample.requested - sample.answered, 0)} ms between the answer and the machine request.`
  )
}

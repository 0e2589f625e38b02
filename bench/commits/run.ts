/**
 * Agent finished → pull request open (issue 14): the machine's change set committed by Porter through GitHub's Git
 * Data API, beside the old path, `git push` from the machine with a write token and `POST …/pulls`.
 *
 *   node --conditions=@porter/source bench/commits/run.ts [--runs 8] [--small 20] [--large 1000] [--repo-files 400]
 *
 * The stack is `porter dev`'s (`@porter/worker/stack`): the built Worker in workerd with a local D1, the GitHub
 * emulator (its App installed, webhooks to the Worker) and the local machines server. The Worker reaches GitHub's
 * REST API through a recording proxy (`@porter/reliability`'s FaultProxy, no faults), which counts the subrequests of
 * each publish; the baseline's push and pull request cross the same proxy. A repository of `repo-files` text files
 * (TypeScript-like lines, 1–5 KB) is generated once. Every round, for each size, in turns (even rounds the new path
 * first, odd rounds the baseline first):
 *
 * - **new path**: a writer comments `@porter script …` on an issue; the Worker dispatches the task to a machine that
 *   only sleeps (the testkit's fake machine). The bench plays the machine with the runner's own code
 *   (`@porter/runner`): `started` callback, `Git.clone` through the Worker's git proxy with the task token, the task
 *   branch; then "the agent" commits the change (untimed). Timed: `ChangeSetBuilder.build` (git plumbing in the
 *   clone, as `Work.ts` calls it) and `SecretCheck.secretsIn`, then `Callbacks.publish` — `POST …/changes` to the
 *   Worker, which checks the change set, writes the commit through the Git Data API, creates the branch and opens
 *   the pull request — until its answer (the pull request's URL). The `completed` callback and the task's end follow,
 *   untimed.
 * - **baseline** (the runner before issue 14): a depth-1 clone straight from the emulator with an installation token,
 *   the same kind of change committed (untimed). Timed: `git push` of the branch with the token, then what the old
 *   runner did to open the pull request: `GET …/pulls?head=…&state=open` (none) and `POST …/pulls`. (Its scan of
 *   the pushed changes for the machine's secrets is not in it; the new path's `secretsIn` is, a few ms.)
 *
 * Changes: `small` modified files of 2–5 KB (a quarter of their lines rewritten, a function added); `large` files,
 * 30 % of them modified files of the repository (all of it when it is smaller) and the rest new files of 1–3 KB. One
 * commit each. Also measured for the new path: the change set's JSON body, the Worker's GitHub subrequests during
 * the publish (what crossed the proxy between the post and its answer) and the workerd process's CPU time during the
 * publish (`/proc`, 10 ms ticks; workerd's HTTP, Miniflare's entry Worker and local D1's SQLite included, so an upper
 * bound of the isolate's). Round 0 is a warm-up (the isolate's first token and caches) and is not counted.
 *
 * `--profile`: the Worker is bundled unminified, and after the timed rounds one more publish per size runs with the V8
 * profiler on the isolate (workerd's inspector): where its time goes, by source file and function. The profiler
 * samples wall time on the isolate's thread, so on a busy machine its totals run above the CPU time.
 */
import * as NodeServices from "@effect/platform-node/NodeServices"
import { FaultProxy } from "@porter/reliability"
import { Callbacks, ChangeSetBuilder, Git, MachineEnv, RunLog, Scrubber, SecretCheck } from "@porter/runner"
import * as MachinesServer from "@porter/testkit/fly"
import * as GitHubEmulator from "@porter/testkit/github"
import * as Build from "@porter/worker/build"
import * as LocalStack from "@porter/worker/stack"
import { Effect, Exit, Layer, Option, Redacted, Scope } from "effect"
import { FetchHttpClient } from "effect/http"
import { execFileSync, spawn } from "node:child_process"
import { createSign } from "node:crypto"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { mkdir, readFile, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import {
  bundleModules,
  cpuMs,
  fixed,
  machine,
  median,
  percentile,
  profiler,
  type ProfileSummary,
  table,
  workerdPids
} from "../worker/support.ts"

const args = process.argv.slice(2)
const option = (name: string, fallback: string) => {
  const at = args.indexOf(`--${name}`)
  return at >= 0 && args[at + 1] !== undefined ? args[at + 1]! : fallback
}
const runs = Number(option("runs", "8"))
const sizes = [Number(option("small", "20")), Number(option("large", "1000"))] as const
const repoFiles = Number(option("repo-files", "400"))
const profiling = args.includes("--profile")

const gitEnv = {
  PATH: process.env["PATH"] ?? "/usr/bin:/bin",
  HOME: process.env["HOME"] ?? "/tmp",
  LANG: "C.UTF-8",
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_CONFIG_GLOBAL: "/dev/null",
  GIT_TERMINAL_PROMPT: "0",
  GIT_AUTHOR_NAME: "Agent Smith",
  GIT_AUTHOR_EMAIL: "agent@example.com",
  GIT_COMMITTER_NAME: "Agent Smith",
  GIT_COMMITTER_EMAIL: "agent@example.com"
}

/** `git …` in `cwd`, asynchronously (the emulator answers from this process meanwhile); its stdout. */
const git = (argv: ReadonlyArray<string>, cwd: string, input?: Buffer) =>
  new Promise<string>((resolve, reject) => {
    const child = spawn("git", argv, { cwd, env: gitEnv, stdio: ["pipe", "pipe", "pipe"] })
    let out = ""
    let err = ""
    child.stdout.on("data", (c: Buffer) => (out += c.toString("utf8")))
    child.stderr.on("data", (c: Buffer) => (err += c.toString("utf8")))
    child.on("error", reject)
    child.on("close", (code) =>
      code === 0 ? resolve(out.trim()) : reject(new Error(`git ${argv.join(" ")} exited ${code}: ${err.trim()}`)))
    child.stdin.end(input)
  })

// ---------------------------------------------------------------------------------------------------------------
// Content: TypeScript-like text from a seeded generator (no credential shapes, compresses like source code).

let seed = 0x2545f491
const random = () => {
  seed ^= seed << 13
  seed ^= seed >>> 17
  seed ^= seed << 5
  return (seed >>> 0) / 4294967296
}
const int = (min: number, max: number) => min + Math.floor(random() * (max - min + 1))
const pick = <A>(items: ReadonlyArray<A>): A => items[Math.floor(random() * items.length)]!
const WORDS = [
  "task",
  "branch",
  "commit",
  "tree",
  "value",
  "config",
  "handler",
  "request",
  "answer",
  "repo",
  "issue",
  "comment",
  "machine",
  "state",
  "event",
  "delivery",
  "limit",
  "entry",
  "path",
  "mode",
  "content",
  "author",
  "message",
  "secret",
  "store",
  "cache",
  "retry",
  "timeout",
  "status",
  "owner"
]
const ident = () => {
  const first = pick(WORDS)
  return random() < 0.6 ? `${first}${pick(WORDS).replace(/^./, (c) => c.toUpperCase())}` : first
}
const type = () => pick(["string", "number", "boolean", "ReadonlyArray<string>", "Option<Task>", "Effect<void>"])
const line = () =>
  pick([
    () => `  const ${ident()} = ${ident()}(${ident()}, ${int(0, 9999)})`,
    () => `  if (${ident()}.${ident()} > ${int(0, 500)}) return ${ident()}`,
    () => `  // ${Array.from({ length: int(4, 12) }, () => pick(WORDS)).join(" ")}`,
    () => `  yield* ${ident()}.${ident()}({ ${ident()}: ${ident()}, ${ident()}: "${pick(WORDS)}" })`,
    () => `  ${ident()}.push(\`${pick(WORDS)} \${${ident()}}\`)`
  ])()
const fn = () => {
  const body = Array.from({ length: int(3, 12) }, line)
  return `export const ${ident()} = (${ident()}: ${type()}, ${ident()}: ${type()}): ${type()} => {\n${
    body.join("\n")
  }\n}\n`
}
/** A file of about `bytes` bytes. */
const source = (bytes: number) => {
  let text = `/**\n * ${
    Array.from({ length: 10 }, () => pick(WORDS)).join(" ")
  }\n */\nimport { Effect } from "effect"\n\n`
  while (text.length < bytes) text += `\n${fn()}`
  return text
}
/** `text` with about a quarter of its lines rewritten and a function added. */
const edit = (text: string) => {
  const lines = text.split("\n").map((l) => (l.startsWith("  ") && random() < 0.25 ? line() : l))
  return `${lines.join("\n")}\n${fn()}`
}

const repoPath = (i: number) => `src/${pick(["core", "github", "worker", "runner", "d1", "fly"])}/${ident()}${i}.ts`

// ---------------------------------------------------------------------------------------------------------------
// GitHub as the old runner used it: an installation token (App JWT → access_tokens).

const installationToken = async (github: GitHubEmulator.Emulator, owner: string) => {
  const b64 = (value: string | Buffer) => Buffer.from(value).toString("base64url")
  const now = Math.floor(Date.now() / 1000)
  const unsigned = `${b64(JSON.stringify({ alg: "RS256", typ: "JWT" }))}.${
    b64(JSON.stringify({ iat: now - 30, exp: now + 540, iss: github.app.id }))
  }`
  const jwt = `${unsigned}.${b64(createSign("RSA-SHA256").update(unsigned).sign(github.app.privateKeyPkcs1))}`
  const installations = await GitHubEmulator.rest<ReadonlyArray<{ id: number; account: { login: string } }>>(
    jwt,
    "GET",
    `${github.url}/app/installations`
  )
  const installation = installations.find((i) => i.account.login === owner)
  if (installation === undefined) throw new Error(`the App is not installed on ${owner}`)
  const { token } = await GitHubEmulator.rest<{ token: string }>(
    jwt,
    "POST",
    `${github.url}/app/installations/${installation.id}/access_tokens`,
    {}
  )
  return token
}

const until = async <A>(what: string, probe: () => Promise<A | undefined> | A | undefined, timeoutMs = 120_000) => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const found = await probe()
    if (found !== undefined) return found
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

/** `GET /repos/{o}/{r}/git/trees/<sha>?recursive=1` → `GET /repos/{o}/{r}/git/trees/{sha}`. */
const route = (method: string, path: string) =>
  `${method} ${
    path.split("?")[0]!
      .replace(/^\/repos\/[^/]+\/[^/]+/, "/repos/{o}/{r}")
      .replace(/\/[0-9a-f]{40}\b/g, "/{sha}")
      .replace(/\/heads(\/|%2F).*$/i, "/heads/{branch}")
      .replace(/\/\d+(?=\/|$)/g, "/{n}")
  }`

// ---------------------------------------------------------------------------------------------------------------

interface NewSample {
  readonly build: number
  readonly publish: number
  readonly total: number
  readonly workerdCpu: number | undefined
  readonly subrequests: number
  /** The GitHub calls, ms after the change set was posted, and how long each took. */
  readonly routes: ReadonlyArray<{ readonly route: string; readonly at: number; readonly ms: number }>
  readonly bodyBytes: number
}

interface BaseSample {
  readonly push: number
  readonly pull: number
  readonly total: number
  readonly requests: number
}

console.log(`Machine: ${await machine()}; ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC.\n`)

const temp = mkdtempSync(join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), "porter-bench-commits-"))
const scope = Effect.runSync(Scope.make())
const proxy = await FaultProxy.startPromise()
const github = await GitHubEmulator.startPromise()
proxy.setTarget(github.url)
const log: Array<string> = []
// Readable only to profile: the deployed bundle is minified.
const readable = profiling ? (await Build.bundle({ minify: false })).code : undefined
const stack = await Effect.runPromise(
  LocalStack.start({
    ...(readable !== undefined ? { script: readable } : {}),
    emulator: github,
    machineCommand: MachinesServer.fakeMachineCommand(),
    ...(profiling ? { inspectorPort: 0 } : {}),
    workerEnv: { GITHUB_API_URL: proxy.url },
    onWorkerLog: (l) => void (log.push(`${l.level} ${l.message}`), log.splice(0, log.length - 200))
  }).pipe(Scope.provide(scope))
)

try {
  const { machines, worker } = stack
  const owner = github.admin
  await GitHubEmulator.rest(owner.token, "POST", `${github.url}/user/repos`, { name: "widgets", auto_init: true })
  const repo = `${owner.login}/widgets`
  const writer = await github.createUser("wendy")
  await GitHubEmulator.rest(owner.token, "PUT", `${github.url}/repos/${repo}/collaborators/${writer.login}`, {
    permission: "push"
  })
  const token = await installationToken(github, owner.login)

  // The repository: `repoFiles` files of 1–5 KB in one commit on top of the initial one (fast-import: nothing else
  // talks to the emulator yet, so blocking here is harmless).
  const bare = join(github.dataDir, `${repo}.git`)
  const files = new Map<string, string>()
  while (files.size < repoFiles) files.set(repoPath(files.size), source(int(1000, 5000)))
  const parent = execFileSync("git", ["--git-dir", bare, "rev-parse", "refs/heads/main"], { env: gitEnv })
    .toString().trim()
  const stream: Array<string> = [
    "commit refs/heads/main\ncommitter Octo Cat <octo@example.com> 1700000000 +0000\ndata 5\nfill\n",
    `from ${parent}\n`
  ]
  for (const [path, text] of files) stream.push(`M 100644 inline ${path}\ndata ${Buffer.byteLength(text)}\n${text}\n`)
  execFileSync("git", ["--git-dir", bare, "fast-import", "--quiet"], { env: gitEnv, input: `${stream.join("")}\n` })
  const paths = [...files.keys()]
  const editable = paths.filter((p) => files.get(p)!.length >= 2000)

  /** The change of `size` files, written into the work tree `dir` and committed there as the agent would. */
  const change = async (dir: string, size: number, label: string) => {
    const writes = new Map<string, string>()
    if (size <= editable.length && size < 100) {
      for (const path of [...editable].sort(() => random() - 0.5).slice(0, size)) {
        writes.set(path, edit(await readFile(join(dir, path), "utf8")))
      }
    } else {
      const modified = Math.min(paths.length, Math.round(size * 0.3))
      for (const path of [...paths].sort(() => random() - 0.5).slice(0, modified)) {
        writes.set(path, edit(await readFile(join(dir, path), "utf8")))
      }
      for (let i = 0; writes.size < size; i++) {
        writes.set(`src/generated/${pick(WORDS)}/${ident()}${label.replace(/\W/g, "")}${i}.ts`, source(int(1000, 3000)))
      }
    }
    for (const [path, text] of writes) {
      await mkdir(dirname(join(dir, path)), { recursive: true })
      await writeFile(join(dir, path), text)
    }
    await git(["add", "-A"], dir)
    await git(["commit", "-q", "--no-verify", "-m", `${label}: ${size} files\n\nWhat the agent did.`], dir)
    return git(["rev-parse", "HEAD"], dir)
  }

  /** Until the Worker's GitHub traffic has stopped for `ms` (its background work after a webhook or a callback). */
  const quiet = async (ms = 400) => {
    await github.deliveries()
    let count = -1
    let since = Date.now()
    for (;;) {
      const now = proxy.exchanges().length
      if (now !== count) {
        count = now
        since = Date.now()
      } else if (Date.now() - since >= ms) return
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  const adminGet = async <A>(path: string) => {
    const response = await fetch(`${worker.url}${path}`, { headers: { authorization: `Bearer ${stack.adminToken}` } })
    if (!response.ok) throw new Error(`GET ${path}: ${response.status} ${await response.text()}`)
    return (await response.json()) as A
  }

  /** A task of Porter's on a new issue, dispatched to a sleeping machine: the machine's environment. */
  const newTask = async (label: string) => {
    const issue = await GitHubEmulator.rest<{ number: number }>(
      owner.token,
      "POST",
      `${github.url}/repos/${repo}/issues`,
      { title: `bench ${label}` }
    )
    await GitHubEmulator.rest(writer.token, "POST", `${github.url}/repos/${repo}/issues/${issue.number}/comments`, {
      body: `@porter script change some files\n\n\`\`\`porter-script\nappend NOTES.md - ${label}\n\`\`\``
    })
    return until(
      "the machine",
      () =>
        machines.machines().find((m) =>
          m.env["ISSUE_NUMBER"] === String(issue.number) && m.env["REPO_FULL_NAME"] === repo
        ),
      60_000
    ).catch((error: unknown) => {
      throw new Error(`${error instanceof Error ? error.message : String(error)}; the Worker's log:\n${log.join("\n")}`)
    })
  }

  /** The runner's services for a machine's environment (its git, its callbacks; logs dropped). */
  const runnerLayer = (env: Readonly<Record<string, string>>) => {
    const taskToken = Redacted.make(env["CALLBACK_TOKEN"]!)
    return Layer.mergeAll(
      Git.layer({ token: taskToken, name: "Porter", email: "porter@example.com" }).pipe(
        Layer.provide(RunLog.layer({ lines: 100, write: () => {} }))
      ),
      Callbacks.layer({ url: env["CALLBACK_URL"]!, token: taskToken })
    ).pipe(
      Layer.provide(
        Layer.mergeAll(Scrubber.layer(MachineEnv.secretValues(env)), NodeServices.layer, FetchHttpClient.layer)
      )
    )
  }

  const newPath = async (size: number, label: string, profile = false) => {
    const view = await newTask(label)
    const env = view.env
    const dir = join(temp, `new-${label}`)
    const layer = runnerLayer(env)
    // The machine's start: `started`, the clone through the Worker's git proxy, the task branch.
    const base = await Effect.runPromise(
      Effect.gen(function*() {
        const callbacks = yield* Callbacks.Callbacks
        const g = yield* Git.Git
        yield* callbacks.send({ type: "started", machineId: view.id, step: "clone" })
        yield* g.clone({ url: env["REPO_CLONE_URL"]!, branch: undefined, dir, filter: false })
        yield* g.createBranch(dir, env["BRANCH"]!)
        return (yield* g.head(dir)).sha
      }).pipe(Effect.provide(layer))
    )
    const tip = await change(dir, size, label)
    await quiet()
    const sampler = profile ? await profiler(await worker.miniflare.getInspectorURL()) : undefined
    await sampler?.start()
    const pids = workerdPids()
    const before = proxy.exchanges().length
    // Timed: what `Work.ts` does once the agent is done and its work committed.
    const timed = await Effect.runPromise(
      Effect.gen(function*() {
        const callbacks = yield* Callbacks.Callbacks
        const started = performance.now()
        const built = yield* ChangeSetBuilder.build(dir, base, tip)
        if (Option.isNone(built)) return yield* Effect.die(new Error("no change set"))
        const leaked = SecretCheck.secretsIn(env, built.value.changeSet)
        if (leaked.length > 0) return yield* Effect.die(new Error(`secrets in the change: ${leaked.length}`))
        const builtAt = performance.now()
        const cpuBefore = cpuMs(pids)
        const postedAt = Date.now()
        const published = yield* callbacks.publish(built.value.changeSet)
        const answeredAt = Date.now()
        const cpuAfter = cpuMs(pids)
        const done = performance.now()
        return {
          build: builtAt - started,
          publish: done - builtAt,
          total: done - started,
          workerdCpu: cpuBefore !== undefined && cpuAfter !== undefined ? cpuAfter - cpuBefore : undefined,
          bodyBytes: ChangeSetBuilder.bodyBytes(built.value.changeSet),
          postedAt,
          answeredAt,
          published
        }
      }).pipe(Effect.provide(layer), Effect.exit)
    )
    const profiled = await sampler?.stop(readable === undefined ? undefined : bundleModules(readable))
    sampler?.close()
    if (Exit.isFailure(timed)) {
      throw new Error(`the publish failed (${size} files):\n${String(timed.cause)}\nWorker log:\n${log.join("\n")}`)
    }
    const { answeredAt, postedAt, published, ...sample } = timed.value
    // What the Worker asked of GitHub between the post and its answer.
    const exchanges = proxy.exchanges().slice(before).filter((x) => x.started >= postedAt && x.at <= answeredAt)
    if (!published.pullRequest.url.includes("/pull/")) throw new Error(`no pull request: ${JSON.stringify(published)}`)
    // The runner's end (untimed): `completed`, then the task ends and its machine goes.
    await Effect.runPromise(
      Callbacks.Callbacks.use((c) => c.send({ type: "completed", outcome: "pushed", summary: `bench ${label}` })).pipe(
        Effect.provide(layer)
      )
    )
    await until("the task to end", async () => {
      const task = await adminGet<{ state: string }>(`/tasks/${env["TASK_ID"]}`)
      return ["succeeded", "failed", "timed_out", "cancelled"].includes(task.state) ? task.state : undefined
    })
    await until(
      "the machine to end",
      () => ["stopped", "destroyed", "failed"].includes(machines.machine(view.id)?.state ?? "") ? true : undefined
    )
    rmSync(dir, { recursive: true, force: true })
    await quiet()
    const routes = exchanges.map((x) => ({
      route: route(x.method, x.path),
      at: x.started - postedAt,
      ms: x.at - x.started
    }))
    return {
      sample: { ...sample, subrequests: exchanges.length, routes } satisfies NewSample,
      profile: profiled
    }
  }

  const pushAuth = `http.extraHeader=Authorization: Basic ${Buffer.from(`x-access-token:${token}`).toString("base64")}`
  const baseline = async (size: number, label: string): Promise<BaseSample> => {
    const dir = join(temp, `base-${label}`)
    await git(["-c", pushAuth, "clone", "-q", "--depth", "1", `${github.url}/${repo}.git`, dir], temp)
    const branch = `bench/${label}`
    await git(["checkout", "-q", "-b", branch], dir)
    await change(dir, size, label)
    await quiet()
    const before = proxy.exchanges().length
    const started = performance.now()
    await git(["-c", pushAuth, "push", "-q", `${proxy.url}/${repo}.git`, `HEAD:refs/heads/${branch}`], dir)
    const pushed = performance.now()
    // As the runner did before issue 14: an open pull request from the branch is linked, else one is opened.
    const open = await GitHubEmulator.rest<ReadonlyArray<unknown>>(
      token,
      "GET",
      `${proxy.url}/repos/${repo}/pulls?head=${encodeURIComponent(`${owner.login}:${branch}`)}&state=open`
    )
    if (open.length > 0) throw new Error(`a pull request is already open from ${branch}`)
    const pull = await GitHubEmulator.rest<{ html_url: string }>(token, "POST", `${proxy.url}/repos/${repo}/pulls`, {
      head: branch,
      base: "main",
      title: `bench ${label}`,
      body: "What the agent did."
    })
    const done = performance.now()
    if (!pull.html_url.includes("/pull/")) throw new Error(`no pull request: ${JSON.stringify(pull)}`)
    const requests = proxy.exchanges().length - before
    rmSync(dir, { recursive: true, force: true })
    await quiet()
    return { push: pushed - started, pull: done - pushed, total: done - started, requests }
  }

  const fresh: Record<number, Array<NewSample>> = { [sizes[0]]: [], [sizes[1]]: [] }
  const old: Record<number, Array<BaseSample>> = { [sizes[0]]: [], [sizes[1]]: [] }
  for (let run = 0; run <= runs; run++) {
    for (const size of sizes) {
      const label = `r${run}-${size}`
      let taken: Awaited<ReturnType<typeof newPath>>
      let base: BaseSample
      if (run % 2 === 0) {
        taken = await newPath(size, label)
        base = await baseline(size, label)
      } else {
        base = await baseline(size, label)
        taken = await newPath(size, label)
      }
      if (run === 0) continue // warm-up
      fresh[size]!.push(taken.sample)
      old[size]!.push(base)
    }
    process.stderr.write(`\rround ${run}/${runs} `)
  }
  process.stderr.write("\n")
  // `--profile`: one more publish per size with the V8 profiler on the Worker's isolate.
  const profiles: Array<readonly [number, ProfileSummary]> = []
  if (profiling) {
    for (const size of sizes) {
      const { profile } = await newPath(size, `profiled-${size}`, true)
      if (profile !== undefined) profiles.push([size, profile])
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  const sorted = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)
  const p90 = (values: ReadonlyArray<number>) => percentile(sorted(values), 90)
  const range = (values: ReadonlyArray<number>) =>
    Math.min(...values) === Math.max(...values) ?
      `${Math.min(...values)}` :
      `${Math.min(...values)}–${Math.max(...values)}`

  console.log(`### Agent finished → pull request open (${repoFiles} files in the repository)\n`)
  console.log(
    `Medians and p90 of ${runs} rounds after one for warm-up (ms; p90 of ${runs} is the ` +
      `${Math.min(runs, Math.floor(0.9 * runs) + 1)}th value); in each round the new path and the baseline take ` +
      "turns going first. The Worker's GitHub traffic and the baseline's push and pull request cross the same " +
      "recording proxy.\n"
  )
  /** The time some GitHub call was under way during the publish (calls that overlap count once). */
  const inGitHub = (sample: NewSample) => {
    let busy = 0
    let end = -Infinity
    for (const r of [...sample.routes].sort((x, y) => x.at - y.at)) {
      const start = Math.max(r.at, end)
      if (r.at + r.ms > start) busy += r.at + r.ms - start
      end = Math.max(end, r.at + r.ms)
    }
    return busy
  }
  const rows: Array<Array<string>> = []
  for (const size of sizes) {
    const n = fresh[size]!
    const b = old[size]!
    const perRound = n.map((s, i) => s.total / b[i]!.total)
    rows.push([
      `${size.toLocaleString("en")} files: new path (change set → Worker → Git Data API → PR)`,
      fixed(median(n.map((s) => s.total)), 0),
      fixed(p90(n.map((s) => s.total)), 0),
      `${fixed(median(n.map((s) => s.total)) / median(b.map((s) => s.total)))}×`,
      `${fixed(median(perRound))}×`,
      n.map((s) => s.total.toFixed(0)).join(" ")
    ])
    rows.push([
      "  of which the runner's change set (build + secret check)",
      fixed(median(n.map((s) => s.build)), 0),
      fixed(p90(n.map((s) => s.build)), 0),
      "",
      "",
      n.map((s) => s.build.toFixed(0)).join(" ")
    ])
    rows.push([
      "  of which `POST …/changes` → answer (Porter's publish)",
      fixed(median(n.map((s) => s.publish)), 0),
      fixed(p90(n.map((s) => s.publish)), 0),
      "",
      "",
      n.map((s) => s.publish.toFixed(0)).join(" ")
    ])
    const own = n.map((s) => s.publish - inGitHub(s))
    rows.push([
      "    of which waiting for GitHub (the emulator)",
      fixed(median(n.map(inGitHub)), 0),
      fixed(p90(n.map(inGitHub)), 0),
      "",
      "",
      n.map((s) => inGitHub(s).toFixed(0)).join(" ")
    ])
    rows.push([
      "    of which the Worker's own (the rest)",
      fixed(median(own), 0),
      fixed(p90(own), 0),
      "",
      "",
      own.map((t) => t.toFixed(0)).join(" ")
    ])
    rows.push([
      `${size.toLocaleString("en")} files: baseline (\`git push\`, \`GET\` + \`POST …/pulls\`)`,
      fixed(median(b.map((s) => s.total)), 0),
      fixed(p90(b.map((s) => s.total)), 0),
      "",
      "",
      b.map((s) => s.total.toFixed(0)).join(" ")
    ])
    rows.push([
      "  of which `git push`",
      fixed(median(b.map((s) => s.push)), 0),
      fixed(p90(b.map((s) => s.push)), 0),
      "",
      "",
      b.map((s) => s.push.toFixed(0)).join(" ")
    ])
  }
  console.log(table(["path", "median", "p90", "new / baseline", "median of per-round ratios", "runs (ms)"], rows))

  console.log("\nThe new path's publish, per change (Worker side):\n")
  console.log(table(
    [
      "change",
      "change set JSON body",
      "GitHub subrequests",
      "baseline's requests",
      "workerd CPU ms (median, max)"
    ],
    sizes.map((size) => {
      const n = fresh[size]!
      const cpu = n.flatMap((s) => (s.workerdCpu === undefined ? [] : [s.workerdCpu]))
      return [
        `${size.toLocaleString("en")} files`,
        `${(median(n.map((s) => s.bodyBytes)) / 1024).toFixed(0)} KiB`,
        range(n.map((s) => s.subrequests)),
        range(old[size]!.map((s) => s.requests)),
        cpu.length === 0 ? "n/a" : `${fixed(median(cpu), 0)}, ${fixed(Math.max(...cpu), 0)}`
      ]
    })
  ))

  for (const size of sizes) {
    // The round whose publish took the median time.
    const samples = [...fresh[size]!].sort((a, b) => a.publish - b.publish)
    const typical = samples[Math.floor((samples.length - 1) / 2)]!
    console.log(
      `\nThe GitHub calls of the median ${size.toLocaleString("en")}-file publish (${
        fixed(typical.publish, 0)
      } ms from \`POST …/changes\` to its answer), ms after the post:\n`
    )
    console.log(table(
      ["call", "at", "ms"],
      typical.routes.map((r) => [`\`${r.route}\``, fixed(r.at, 0), fixed(r.ms, 0)])
    ))
  }
  for (const [size, profile] of profiles) {
    console.log(
      `\nThe isolate during one profiled ${size.toLocaleString("en")}-file publish: ${fixed(profile.jsMs, 0)} ms ` +
        `sampled in JavaScript (GC ${fixed(profile.gcMs, 0)} ms), ${fixed(profile.programMs, 0)} ms native, ` +
        `${fixed(profile.idleMs, 0)} ms idle. By area: ${
          profile.areas.slice(0, 6).map((a) => `${a.name} ${fixed(a.ms, 0)} ms`).join(", ")
        }. Most time, with what each calls (inclusive):\n`
    )
    console.log(table(
      ["function (file:line)", "ms"],
      profile.inclusive.slice(0, 25).map((f) => [`\`${f.name}\``, fixed(f.ms, 0)])
    ))
    console.log("\nSelf time:\n")
    console.log(
      table(["function (file:line)", "ms"], profile.top.slice(0, 15).map((f) => [`\`${f.name}\``, fixed(f.ms, 0)]))
    )
  }
} finally {
  await Effect.runPromise(Scope.close(scope, Exit.void))
  await github.close()
  await proxy.close()
  rmSync(temp, { recursive: true, force: true })
}

/**
 * The web app's task list, server-rendered by the Worker in workerd on a local D1 holding 1,000 tasks (one
 * repository; mixed states, agents and requesters): time to first byte of each page as a signed-in user sees it,
 * beside `GET /healthz` (the Worker's floor); the two Workers' bundles and the JavaScript a page loads.
 *
 *   node --conditions=@porter/source bench/web/tasklist.ts [--tasks N] [--requests N]
 *
 * The user signs in once through the GitHub emulator's OAuth flow; the user's repositories and roles are then kept
 * for 60 s per isolate (the web app's access cache), so the timed requests ask GitHub nothing: what is measured is
 * the session check (an HMAC, one D1 read, AES-GCM), the listing (D1) and the rendering. Requests go one at a time
 * over HTTP to workerd (loopback); TTFB is from sending the request to its response headers. Budget: p50 ≤ 30 ms for
 * the task list. Exits 1 when over it.
 */
import * as GitHubEmulator from "@porter/testkit/github"
import { Assets } from "@porter/web"
import * as Build from "@porter/worker/build"
import * as Local from "@porter/worker/local"
import { randomBytes } from "node:crypto"
import { request } from "node:http"
import { performance } from "node:perf_hooks"
import { gzipSync } from "node:zlib"
import { fixed, percentile, table, workerEnv } from "../worker/support.ts"

const args = process.argv.slice(2)
const option = (name: string, fallback: number) => {
  const at = args.indexOf(`--${name}`)
  return at >= 0 ? Number(args[at + 1]) : fallback
}
const TASKS = option("tasks", 1_000)
const REQUESTS = option("requests", 200)
const BUDGET_P50_MS = 30
const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`

// --- Bundle sizes: the web app is the App Worker's (the API Worker hands it its paths); JavaScript per page --------

const built = await Build.bundle()
const app = await Build.bundleApp()
const webShare = Build.contributors(app.metafile).find((c) => c.name === "@porter/web")?.bytes ?? 0
const liveJs = gzipSync(Assets.LIVE_JS, { level: 9 }).byteLength
console.log("### Web app: the Workers' bundles and the JavaScript a page loads\n")
console.log(table(["bundle", "minified", "gzipped"], [
  ["the API Worker (no web app; budget 225 KiB gzipped)", kib(built.bytes), kib(built.gzipBytes)],
  ["the App Worker (web app, MCP server)", kib(app.bytes), kib(app.gzipBytes)],
  [
    "JavaScript of a page (the live-updates script, on a running task's page; others none)",
    kib(
      Buffer.byteLength(Assets.LIVE_JS)
    ),
    kib(liveJs)
  ]
]))
console.log(
  `\n@porter/web's own modules: ${kib(webShare)} minified. Budget: ≤ 50 KiB of gzipped JavaScript per page.\n`
)

// --- The stack: the emulator (OAuth, permissions) and the Worker with 1,000 tasks ------------------------------

const github = await GitHubEmulator.startPromise()
const owner = github.admin
await GitHubEmulator.rest(owner.token, "POST", `${github.url}/user/repos`, { name: "widgets", auto_init: true })
github.oauth.signInAs(owner.login)
const worker = await Local.startPromise({
  script: built.code,
  appScript: app.code,
  env: {
    // Its public URL stays workerEnv's: the OAuth callback below is followed by hand, to the Worker's real port.
    ...workerEnv({ github: github.url, fly: "http://127.0.0.1:9/v1" }),
    GITHUB_OAUTH_CLIENT_ID: github.oauth.clientId,
    GITHUB_OAUTH_CLIENT_SECRET: github.oauth.clientSecret,
    PORTER_SESSION_SECRET: randomBytes(32).toString("base64"),
    PORTER_OPERATORS: owner.login
  }
})

const NOW = Date.now()
const repo = `${owner.login}/widgets`
await worker.db.prepare(`INSERT INTO tasks (id, state, repo_owner, repo_name, repo_key, issue_number, is_pull_request,
    requested_by_login, requested_by_id, requested_by_type, trigger_kind, trigger_comment_id, delivery_id, agent,
    instructions, timeout_ms, created_at, updated_at, deadline_at, started_at, finished_at, dispatch_attempts, outcome,
    pr_url, usage)
  WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < ?1)
  SELECT printf('task_%026d', n),
    CASE n % 10 WHEN 0 THEN 'failed' WHEN 1 THEN 'cancelled' WHEN 2 THEN 'running' ELSE 'succeeded' END,
    ?2, 'widgets', lower(?2 || '/widgets'), 1 + n % 40, 0, 'user' || (n % 7), 5000 + n % 7, 'User', 'issue_comment', n,
    'delivery-' || n, CASE n % 3 WHEN 0 THEN 'claude' WHEN 1 THEN 'codex' ELSE 'script' END, 'fix the flaky test',
    1800000, ?3 - (?1 - n) * 60000, ?3 - (?1 - n) * 60000, ?3 - (?1 - n) * 60000 + 1800000, ?3 - (?1 - n) * 60000,
    CASE n % 10 WHEN 2 THEN NULL ELSE ?3 - (?1 - n) * 60000 + 300000 END, 1,
    CASE n % 10 WHEN 0 THEN 'agent_failed' WHEN 1 THEN NULL WHEN 2 THEN NULL ELSE 'pushed' END,
    CASE WHEN n % 10 > 2 THEN 'https://github.com/' || ?2 || '/widgets/pull/' || n END,
    '{"inputTokens":12345,"outputTokens":2345,"costUsd":0.42}'
  FROM seq`).bind(TASKS, owner.login, NOW).run()

/** One GET over HTTP; ms to the response headers and to its end, status and size (`cookie`: or an admin bearer). */
const get = (path: string, cookie?: string) =>
  new Promise<{ ttfb: number; total: number; status: number; bytes: number; headers: Record<string, unknown> }>(
    (resolve, reject) => {
      const url = new URL(path, worker.url)
      const started = performance.now()
      const headers = cookie === undefined
        ? {}
        : cookie.startsWith("Bearer ")
        ? { authorization: cookie }
        : { cookie }
      const req = request(url, { headers }, (res) => {
        const ttfb = performance.now() - started
        let bytes = 0
        res.on("data", (chunk: Buffer) => (bytes += chunk.length))
        res.on(
          "end",
          () =>
            resolve({
              ttfb,
              total: performance.now() - started,
              status: res.statusCode ?? 0,
              bytes,
              headers: res.headers
            })
        )
      })
      req.on("error", reject)
      req.end()
    }
  )

// Sign in once: /login/github → the emulator approves (signInAs) → /oauth/callback sets the session cookie.
const start = await get("/login/github?return=/app/tasks")
const oauthCookie = String((start.headers["set-cookie"] as Array<string>)[0]).split(";")[0]!
const approved = await fetch(String(start.headers["location"]), { redirect: "manual" })
const callback = new URL(approved.headers.get("location")!)
const signedIn = await get(`${callback.pathname}${callback.search}`, oauthCookie)
const session = (signedIn.headers["set-cookie"] as Array<string>).find((c) => c.startsWith("porter_session="))
if (session === undefined) throw new Error(`sign-in failed (${signedIn.status})`)
const cookie = session.split(";")[0]!

const firstPage = await get("/app/tasks", cookie)
const lastId = /href="\/app\/tasks\?before=(task_[0-9a-z]+)"/.exec(
  await fetch(new URL("/app/tasks", worker.url), { headers: { cookie } }).then((r) => r.text())
)?.[1]

const cases: ReadonlyArray<readonly [string, string, string | undefined]> = [
  ["GET /healthz (the Worker's floor)", "/healthz", undefined],
  [
    "admin API JSON, newest 50 (same store read)",
    "/admin/tasks?limit=50",
    `Bearer ${worker.env["PORTER_ADMIN_TOKEN"]}`
  ],
  ["task list, newest 50", "/app/tasks", cookie],
  ["task list, next page", `/app/tasks?before=${lastId}`, cookie],
  ["task list, state=failed", "/app/tasks?state=failed", cookie],
  ["task list, repository + requester", `/app/tasks?repo=${encodeURIComponent(repo)}&user=user3`, cookie],
  ["one task's page", `/app/tasks/task_${String(TASKS).padStart(26, "0")}`, cookie]
]

const rows: Array<Array<string>> = []
let listP50 = Number.NaN
for (const [label, path, withCookie] of cases) {
  for (let i = 0; i < 20; i++) await get(path, withCookie)
  const samples: Array<{ ttfb: number; total: number; status: number; bytes: number }> = []
  for (let i = 0; i < REQUESTS; i++) samples.push(await get(path, withCookie))
  const bad = samples.find((s) => s.status !== 200)
  if (bad !== undefined) throw new Error(`${path} answered ${bad.status}`)
  const ttfb = samples.map((s) => s.ttfb).sort((a, b) => a - b)
  const total = samples.map((s) => s.total).sort((a, b) => a - b)
  if (path === "/app/tasks") listP50 = percentile(ttfb, 50)
  rows.push([
    label,
    fixed(percentile(ttfb, 50), 1),
    fixed(percentile(ttfb, 90), 1),
    fixed(percentile(ttfb, 99), 1),
    fixed(percentile(total, 50), 1),
    kib(samples[0]!.bytes)
  ])
}

console.log(`### Web app: the task list with ${TASKS.toLocaleString("en-US")} tasks (workerd, local D1)\n`)
console.log(`${REQUESTS} requests per row, one at a time after 20 to warm up; first page ${firstPage.status}.\n`)
console.log(table(["page", "TTFB p50 (ms)", "p90", "p99", "whole answer p50 (ms)", "size"], rows))
console.log(`\nBudget: task list TTFB p50 ≤ ${BUDGET_P50_MS} ms — ${listP50 <= BUDGET_P50_MS ? "met" : "NOT met"}.`)

await worker.close()
await github.close()
if (!(listP50 <= BUDGET_P50_MS)) process.exitCode = 1

// `porter dev --json` as scripts and external test suites use it: one stack for the whole file, driven through
// the URLs and tokens of its first line with plain HTTP, and through `porter secrets|tasks|doctor` as child
// processes. The last test stops it with SIGTERM and checks nothing it started is left running.
import { assert, layer } from "@effect/vitest"
import { Browser } from "@porter/testkit/browser"
import { Context, Effect, Layer } from "effect"
import { randomBytes } from "node:crypto"
import {
  descendants,
  type DevProcess,
  isAlive,
  lines,
  porter,
  request,
  startDev,
  type TaskRow,
  waitForTask
} from "./support/Porter.ts"

class Dev extends Context.Service<Dev, DevProcess>()("@porter/cli/test/Dev") {}

const adminToken = randomBytes(24).toString("hex")

const devLayer = Layer.effect(
  Dev,
  Effect.acquireRelease(
    Effect.promise(() => startDev(["--port", "0", "--admin-token", adminToken])),
    (dev) => Effect.promise(() => dev.stop())
  )
)

const http = <A>(method: string, url: string, token: string, body?: unknown) =>
  Effect.promise(() => request<A>(method, url, token, body))

const taskOf = (repo: string, issue: number, states: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const { info } = yield* Dev
    return yield* Effect.promise(() => waitForTask(info.worker, adminToken, repo, issue, states))
  })

/** `porter …args` against the dev stack's admin API. */
const cli = (args: ReadonlyArray<string>, options: { readonly stdin?: string; readonly token?: string } = {}) =>
  Effect.gen(function*() {
    const { info } = yield* Dev
    return yield* Effect.promise(() =>
      porter([...args, "--url", info.worker, "--admin-token", options.token ?? adminToken], {
        ...(options.stdin !== undefined ? { stdin: options.stdin } : {})
      })
    )
  })

layer(devLayer, { timeout: 120_000, excludeTestServices: true })("porter dev --json", (it) => {
  it.effect("prints exactly one JSON object first, with URLs and tokens that work", () =>
    Effect.gen(function*() {
      const { firstLine, info } = yield* Dev
      assert.deepStrictEqual(
        Object.keys(JSON.parse(firstLine)),
        ["worker", "github", "githubAdminToken", "machines", "webhookSecret", "owner", "webApp"]
      )
      for (const [key, value] of Object.entries(info)) assert.isString(value, key)
      assert.match(info.worker, /^http:\/\/127\.0\.0\.1:\d+$/)
      const health = yield* Effect.promise(() => fetch(`${info.worker}/healthz`))
      assert.strictEqual(health.status, 200)
      const me = yield* http<{ login: string }>("GET", `${info.github}/user`, info.githubAdminToken)
      assert.strictEqual(me.login, info.owner)
      // The sample repository is there, owned by the admin.
      const sample = yield* http<{ full_name: string }>(
        "GET",
        `${info.github}/repos/${info.owner}/hello`,
        info.githubAdminToken
      )
      assert.strictEqual(sample.full_name, `${info.owner}/hello`)
      // The machines server speaks Fly's API (and wants its token).
      const machines = yield* Effect.promise(() => fetch(`${info.machines}/apps/porter-local/machines`))
      assert.strictEqual(machines.status, 401)
      assert.isAtLeast(info.webhookSecret.length, 20)
      // The web app: signed out, its sign-in page; "Sign in with GitHub" comes back signed in as the owner.
      assert.strictEqual(info.webApp, `${info.worker}/app`)
      const tasks = yield* Effect.promise(() => new Browser(info.worker).signIn(info.owner, "/app/tasks"))
      assert.strictEqual(tasks.url, `${info.webApp}/tasks`)
      assert.include(tasks.text, `@${info.owner}`)
    }))

  it.effect(
    "a repository, an issue and a comment made with the admin token become a pull request",
    () =>
      Effect.gen(function*() {
        const { info, stdout } = yield* Dev
        yield* http("POST", `${info.github}/user/repos`, info.githubAdminToken, { name: "widgets", auto_init: true })
        const repo = `${info.owner}/widgets`
        const issue = yield* http<{ number: number }>(
          "POST",
          `${info.github}/repos/${repo}/issues`,
          info.githubAdminToken,
          {
            title: "Add a changelog"
          }
        )
        yield* http("POST", `${info.github}/repos/${repo}/issues/${issue.number}/comments`, info.githubAdminToken, {
          body: "@porter script add a changelog line"
        })
        const task = yield* taskOf(repo, issue.number, ["succeeded", "failed", "timed_out", "cancelled"])
        assert.strictEqual(task.state, "succeeded", task.reason)
        const pulls = yield* http<ReadonlyArray<{ html_url: string }>>(
          "GET",
          `${info.github}/repos/${repo}/pulls?state=all`,
          info.githubAdminToken
        )
        assert.deepStrictEqual(pulls.map((p) => p.html_url), [task.prUrl])
        // The readable log followed it: the transitions and the machine's own lines. The log polls every 500 ms
        // on a loaded machine too, so wait for the lines (bounded) rather than for a fixed time.
        const expected = [
          new RegExp(`task ${task.id} ${repo}#${issue.number} \\(script\\): (\\w+ → )?succeeded ${task.prUrl}`),
          /\d\d:\d\d:\d\d \w+ │ Porter runner: task task_\w+, script on admin\/widgets#1/,
          /machine \w+ \(task_\w+\) (started|destroyed)/
        ]
        const until = Date.now() + 20_000
        while (!expected.every((re) => re.test(stdout())) && Date.now() < until) yield* Effect.sleep("100 millis")
        const log = stdout()
        for (const re of expected) assert.match(log, re)
      }),
    90_000
  )

  it.effect("porter tasks ls and show read the deployment's tasks", () =>
    Effect.gen(function*() {
      const task = yield* taskOf("admin/widgets", 1, ["succeeded"])
      const listed = yield* cli(["tasks", "ls"])
      assert.strictEqual(listed.code, 0, listed.stderr)
      const header = lines(listed.stdout)[0]!
      assert.match(header, /^TASK +STATE +ISSUE +AGENT +UPDATED +RESULT$/)
      const row = lines(listed.stdout).find((line) => line.startsWith(task.id))
      assert.isDefined(row)
      assert.match(row!, new RegExp(`^${task.id} +succeeded +admin/widgets#1 +script +\\d+[sm] ago +${task.prUrl}$`))

      const json = yield* cli(["tasks", "ls", "--json", "--state", "succeeded", "--repo", "admin/widgets"])
      assert.strictEqual(json.code, 0, json.stderr)
      const rows = JSON.parse(json.stdout) as ReadonlyArray<TaskRow>
      assert.deepStrictEqual(rows.map((r) => [r.id, r.state]), [[task.id, "succeeded"]])

      const shown = yield* cli(["tasks", "show", task.id])
      assert.strictEqual(shown.code, 0, shown.stderr)
      assert.include(shown.stdout, `task          ${task.id}`)
      assert.include(shown.stdout, `pull request  ${task.prUrl}`)
      for (
        const transition of ["· → queued", "queued → provisioning", "provisioning → running", "running → succeeded"]
      ) {
        assert.include(shown.stdout, transition)
      }

      const missing = yield* cli(["tasks", "show", "task_00000000000000000000000000"])
      assert.strictEqual(missing.code, 1)
      assert.strictEqual(lines(missing.stderr).length, 1, missing.stderr)
      assert.match(missing.stderr, /^porter: http:\/\/127\.0\.0\.1:\d+ answered 404: no task task_0+/)
    }), 60_000)

  it.effect("porter secrets set, ls and rm: values from stdin or --value, never printed", () =>
    Effect.gen(function*() {
      const stdinValue = `sk-from-stdin-${randomBytes(8).toString("hex")}`
      const flagValue = `sk-from-flag-${randomBytes(8).toString("hex")}`
      const fromStdin = yield* cli(["secrets", "set", "ANTHROPIC_API_KEY"], { stdin: `${stdinValue}\n` })
      assert.strictEqual(fromStdin.code, 0, fromStdin.stderr)
      assert.match(fromStdin.stdout, /^Set ANTHROPIC_API_KEY \(global\) on http:\/\/127\.0\.0\.1:\d+\.\n$/)
      const fromFlag = yield* cli([
        "secrets",
        "set",
        "OPENAI_API_KEY",
        "--scope",
        "repository:admin/widgets",
        "--value",
        flagValue
      ])
      assert.strictEqual(fromFlag.code, 0, fromFlag.stderr)

      const listed = yield* cli(["secrets", "ls"])
      assert.strictEqual(listed.code, 0, listed.stderr)
      const rows = lines(listed.stdout)
      assert.match(rows[0]!, /^SCOPE +NAME +UPDATED$/)
      assert.isTrue(rows.some((row) => /^global +ANTHROPIC_API_KEY +\d{4}-/.test(row)))
      assert.isTrue(rows.some((row) => /^repository:admin\/widgets +OPENAI_API_KEY +\d{4}-/.test(row)))
      const json = yield* cli(["secrets", "ls", "--json", "--scope", "repository:admin/widgets"])
      assert.deepStrictEqual((JSON.parse(json.stdout) as ReadonlyArray<{ name: string }>).map((s) => s.name), [
        "OPENAI_API_KEY"
      ])
      const all = [fromStdin, fromFlag, listed, json].map((r) => r.stdout + r.stderr).join("\n")
      assert.notInclude(all, stdinValue)
      assert.notInclude(all, flagValue)

      const removed = yield* cli(["secrets", "rm", "ANTHROPIC_API_KEY"])
      assert.strictEqual(removed.code, 0, removed.stderr)
      assert.include(removed.stdout, "Removed ANTHROPIC_API_KEY (global)")
      const again = yield* cli(["secrets", "rm", "ANTHROPIC_API_KEY"])
      assert.strictEqual(again.code, 1)
      assert.deepStrictEqual(lines(again.stderr), [
        "porter: there is no secret ANTHROPIC_API_KEY in global: `porter secrets ls` lists them"
      ])

      const badScope = yield* cli(["secrets", "set", "X_KEY", "--scope", "everywhere", "--value", "v"])
      assert.strictEqual(badScope.code, 1)
      assert.strictEqual(lines(badScope.stderr).length, 1)
      assert.include(badScope.stderr, "scope must be global, repository:owner/name")
      const emptyStdin = yield* cli(["secrets", "set", "X_KEY"], { stdin: "" })
      assert.deepStrictEqual(lines(emptyStdin.stderr), [
        "porter: no value for X_KEY on stdin: pipe it in, or pass --value"
      ])
      const refused = yield* cli(["secrets", "ls"], { token: "not-the-token" })
      assert.strictEqual(refused.code, 1)
      assert.match(
        refused.stderr.trim(),
        /^porter: http:\/\/127\.0\.0\.1:\d+ refused the admin token: pass the deployment's PORTER_ADMIN_TOKEN/
      )
    }), 60_000)

  it.effect("the admin commands also read PORTER_URL and PORTER_ADMIN_TOKEN", () =>
    Effect.gen(function*() {
      const { info } = yield* Dev
      const ran = yield* Effect.promise(() =>
        porter(["tasks", "ls", "--json"], { env: { PORTER_URL: info.worker, PORTER_ADMIN_TOKEN: adminToken } })
      )
      assert.strictEqual(ran.code, 0, ran.stderr)
      assert.isArray(JSON.parse(ran.stdout))
    }), 30_000)

  it.effect(
    "porter doctor --url asks the deployment: every check passes; a wrong token is one line",
    () =>
      Effect.gen(function*() {
        const ran = yield* cli(["doctor"])
        assert.strictEqual(ran.code, 0, ran.stdout + ran.stderr)
        const out = lines(ran.stdout)
        assert.match(out[0]!, /^Checking the deployment at http:\/\/127\.0\.0\.1:\d+ \(GET \/admin\/doctor\)$/)
        assert.isTrue(out.some((line) => line.startsWith("✓ D1: migrated (0001_init.sql, 0002_audit.sql, 0003_")))
        assert.isTrue(out.some((line) => line.startsWith("✓ Fly: the token is accepted for app porter-local")))
        assert.isTrue(out.some((line) => line.startsWith("✓ GitHub: App ") && line.includes("GitHub accepts")))
        assert.notInclude(ran.stdout, "✗")
        assert.match(out.at(-1)!, /^All (required )?checks passed/)

        const refused = yield* cli(["doctor"], { token: "wrong" })
        assert.strictEqual(refused.code, 1)
        assert.strictEqual(lines(refused.stderr).length, 1)
        assert.include(refused.stderr, "refused the admin token")
      }),
    60_000
  )

  it.effect(
    "SIGTERM stops everything it started, a running machine included, and exits 0",
    () =>
      Effect.gen(function*() {
        const { child, exited, info, stderr } = yield* Dev
        const repo = `${info.owner}/hello`
        yield* http("POST", `${info.github}/repos/${repo}/issues/1/comments`, info.githubAdminToken, {
          body: "@porter script keep busy\n\n```porter-script\nsleep 120\n```"
        })
        yield* taskOf(repo, 1, ["running"])
        const started = descendants(child.pid!)
        assert.isAtLeast(started.length, 2, "workerd and the machine's runner run under porter dev")
        child.kill("SIGTERM")
        const end = yield* Effect.promise(() => exited)
        assert.deepStrictEqual(end, { code: 0, signal: null }, stderr())
        assert.include(stderr(), "porter dev: stopping")
        // The machine's agent runs in a process group of its own, which the runner ends on its way out: give it
        // a few seconds, then nothing may be left.
        const deadline = Date.now() + 10_000
        while (started.some(isAlive) && Date.now() < deadline) yield* Effect.sleep("100 millis")
        assert.deepStrictEqual(started.filter(isAlive), [], "no process porter dev started outlives it")
      }),
    60_000
  )
})

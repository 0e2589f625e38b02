// The `porter` command as a user meets it, run as a child process: every command has `--help`; bad arguments and
// unreachable services end in exactly one line on stderr that says what to do, and a non-zero exit.
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { createServer } from "node:net"
import { lines, porter } from "./support/Porter.ts"

const COMMANDS = [
  [],
  ["dev"],
  ["demo"],
  ["doctor"],
  ["secrets"],
  ["secrets", "set"],
  ["secrets", "ls"],
  ["secrets", "rm"],
  ["tasks"],
  ["tasks", "ls"],
  ["tasks", "show"]
] as const

/** A port nothing listens on (bound, then closed). */
const closedPort = () =>
  new Promise<number>((resolve) => {
    const server = createServer()
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

describe("porter --help", () => {
  it.live("every command explains itself and exits 0", () =>
    Effect.gen(function*() {
      const runs = yield* Effect.forEach(
        COMMANDS,
        (command) => Effect.promise(() => porter([...command, "--help"])).pipe(Effect.map((ran) => ({ command, ran }))),
        { concurrency: 3 }
      )
      for (const { command, ran } of runs) {
        const name = ["porter", ...command].join(" ")
        assert.strictEqual(ran.code, 0, `${name} --help: ${ran.stderr}`)
        assert.strictEqual(ran.stderr, "", name)
        assert.include(ran.stdout, "DESCRIPTION", name)
        assert.include(ran.stdout, `USAGE\n  ${name}`, name)
        assert.include(ran.stdout, "--help", name)
      }
      const byName = new Map(runs.map(({ command, ran }) => [command.join(" "), ran.stdout]))
      assert.include(byName.get(""), "SUBCOMMANDS")
      for (const sub of ["dev", "demo", "doctor", "secrets", "tasks"]) assert.include(byName.get(""), `  ${sub} `)
      for (const flag of ["--docker", "--no-github", "--json", "--port"]) {
        assert.include(byName.get("dev"), flag.replace("--no-", "--"))
      }
      assert.include(byName.get("dev"), "--no-github")
      for (const flag of ["--url", "--admin-token", "--env-file"]) {
        assert.include(byName.get("doctor"), flag)
      }
      assert.include(byName.get("secrets set"), "--value")
      assert.include(byName.get("tasks show"), "task-id")
    }), 60_000)

  it.live("`porter` alone shows the help and `--version` the version", () =>
    Effect.gen(function*() {
      const bare = yield* Effect.promise(() => porter([]))
      assert.strictEqual(bare.code, 0)
      assert.include(bare.stdout, "SUBCOMMANDS")
      const version = yield* Effect.promise(() => porter(["--version"]))
      assert.strictEqual(version.code, 0)
      assert.match(version.stdout, /porter v\d+\.\d+\.\d+/)
    }), 30_000)
})

describe("bad arguments", () => {
  const cases: ReadonlyArray<readonly [ReadonlyArray<string>, RegExp]> = [
    [["frob"], /^porter: Unknown subcommand "frob".*\(see `porter --help`\)$/],
    [["dev", "--bogus"], /^porter dev: Unrecognized flag: --bogus.*\(see `porter dev --help`\)$/],
    [["dev", "--port", "abc"], /^porter dev: Invalid value for flag --port: "abc"/],
    [["dev", "--port", "70000"], /^porter: --port must be a port number \(0 to 65535\), not 70000$/],
    [["demo", "--agent", "gpt"], /^porter demo: Invalid value for flag --agent: "gpt".*"auto" \| "claude" \| "script"/],
    [["tasks", "show"], /^porter tasks show: Missing required argument: task-id/],
    [["tasks", "ls", "--state", "sleeping"], /^porter tasks ls: Invalid value for flag --state/],
    [
      ["tasks", "ls", "--limit", "0", "--url", "http://127.0.0.1:1", "--admin-token", "t"],
      /^porter: --limit must be between 1 and 500$/
    ],
    [["secrets", "set"], /^porter secrets set: Missing required argument: name/],
    [
      ["doctor", "--url", "http://x.invalid", "--env-file", "f"],
      /^porter: pass either --url .* or --env-file .*, not both$/
    ]
  ]
  it.live(
    "each gives one line that says what to do, and exit code 2 (1 for a failed check)",
    () =>
      Effect.gen(function*() {
        const runs = yield* Effect.forEach(
          cases,
          ([args, expected]) => Effect.map(Effect.promise(() => porter(args)), (ran) => ({ args, expected, ran })),
          { concurrency: 3 }
        )
        for (const { args, expected, ran } of runs) {
          const name = `porter ${args.join(" ")}`
          assert.deepStrictEqual(lines(ran.stderr).length, 1, `${name}: ${ran.stderr}`)
          assert.match(ran.stderr.trim(), expected, name)
          assert.notInclude(ran.stderr, "    at ", `${name}: no stack trace`)
          assert.strictEqual(ran.stdout, "", name)
          assert.include([1, 2], ran.code, name)
        }
      }),
    60_000
  )
})

describe("missing settings and unreachable services", () => {
  it.live("the admin commands say which deployment and token they need", () =>
    Effect.gen(function*() {
      const noUrl = yield* Effect.promise(() => porter(["tasks", "ls"]))
      assert.strictEqual(noUrl.code, 1)
      assert.deepStrictEqual(lines(noUrl.stderr), [
        "porter: which deployment? pass --url https://… or set PORTER_URL (`porter dev` prints both for a local stack)"
      ])
      const noToken = yield* Effect.promise(() =>
        porter(["secrets", "ls"], { env: { PORTER_URL: "http://127.0.0.1:1" } })
      )
      assert.strictEqual(noToken.code, 1)
      assert.deepStrictEqual(lines(noToken.stderr), [
        "porter: the admin API needs the deployment's admin token: pass --admin-token or set PORTER_ADMIN_TOKEN"
      ])
      const badUrl = yield* Effect.promise(() =>
        porter(["tasks", "ls", "--url", "porter.example", "--admin-token", "t"])
      )
      assert.strictEqual(badUrl.code, 1)
      assert.match(
        badUrl.stderr.trim(),
        /^porter: "porter.example" is not a URL: pass the deployment's URL, like https:/
      )
    }), 30_000)

  it.live("a deployment nobody answers for: one line naming the URL, exit 1", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(closedPort)
      const url = `http://127.0.0.1:${port}`
      const runs = yield* Effect.forEach(
        [
          ["tasks", "ls", "--url", url, "--admin-token", "t"],
          ["tasks", "show", "task_00000000000000000000000000", "--url", url, "--admin-token", "t"],
          ["secrets", "rm", "X_KEY", "--url", url, "--admin-token", "t"],
          ["doctor", "--url", url, "--admin-token", "t"]
        ],
        (args) => Effect.promise(() => porter(args)),
        { concurrency: 2 }
      )
      for (const ran of runs) {
        assert.strictEqual(ran.code, 1, ran.stderr)
        assert.deepStrictEqual(lines(ran.stderr).length, 1, ran.stderr)
        assert.match(
          ran.stderr.trim(),
          new RegExp(
            `^porter: cannot reach Porter at ${url} \\(ECONNREFUSED\\): check the URL \\(--url or PORTER_URL\\)`
          )
        )
      }
    }), 30_000)

  it.live("porter dev on a port in use says to pick another", () =>
    Effect.gen(function*() {
      const server = createServer()
      const port = yield* Effect.promise(() =>
        new Promise<number>((resolve) =>
          server.listen(0, "127.0.0.1", () => {
            const address = server.address()
            resolve(typeof address === "object" && address !== null ? address.port : 0)
          })
        )
      )
      const ran = yield* Effect.promise(() => porter(["dev", "--port", String(port)])).pipe(
        Effect.ensuring(Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve()))))
      )
      assert.strictEqual(ran.code, 1)
      assert.deepStrictEqual(lines(ran.stderr), [
        `porter: port ${port} is in use: pass --port with another number (0 picks a free one)`
      ])
    }), 30_000)

  it.live("porter dev --no-github without GitHub settings names the variables", () =>
    Effect.gen(function*() {
      const ran = yield* Effect.promise(() =>
        porter(["dev", "--no-github", "--port", "0"], {
          env: { GITHUB_WEBHOOK_SECRET: undefined, GITHUB_APP_ID: undefined, GITHUB_TOKEN: undefined }
        })
      )
      assert.strictEqual(ran.code, 1)
      assert.deepStrictEqual(lines(ran.stderr), [
        "porter: --no-github needs GitHub settings in the environment: GITHUB_WEBHOOK_SECRET and either " +
        "GITHUB_APP_ID + GITHUB_APP_PRIVATE_KEY or GITHUB_TOKEN (and GITHUB_API_URL / GITHUB_GIT_URL for GitHub " +
        "Enterprise)"
      ])
    }), 30_000)

  it.live("porter dev --docker without a daemon says how to go on", () =>
    Effect.gen(function*() {
      const ran = yield* Effect.promise(() =>
        porter(["dev", "--docker", "--port", "0", "--docker-socket", "/nonexistent/docker.sock"])
      )
      assert.strictEqual(ran.code, 1)
      assert.deepStrictEqual(lines(ran.stderr), [
        "porter: no Docker daemon answers on /nonexistent/docker.sock: start dockerd, or pass --docker-socket " +
        "(or DOCKER_SOCKET), or leave out --docker to run machines as local processes"
      ])
    }), 30_000)
})

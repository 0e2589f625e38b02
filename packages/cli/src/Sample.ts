/**
 * The sample repository `porter dev` and `porter demo` put in the GitHub emulator: `<admin>/hello`, a tiny ES
 * module library whose test fails (`greet()` forgets the exclamation mark its README promises), with an issue
 * about it and a collaborator with write access who asks Porter to fix it.
 *
 * Files are pushed with the real `git` CLI over the emulator's smart HTTP, as the repository owner.
 */
import type * as GitHubEmulator from "@porter/testkit/github"
import { Effect, Schema } from "effect"
import type { HttpClient } from "effect/http"
import { execFile } from "node:child_process"
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { type CliFailure, fail } from "./CliFailure.ts"
import * as GitHubRest from "./GitHubRest.ts"

/** The sample repository's name. */
export const REPO = "hello"

/** The sample repository's files: a small library whose test fails. */
export const files: Readonly<Record<string, string>> = {
  "README.md": [
    "# hello",
    "",
    "A tiny greeting library: the sample repository of `porter demo`.",
    "",
    "```js",
    "import { greet } from \"./greet.js\"",
    "",
    "greet(\"Ada\") // \"Hello, Ada!\"",
    "```",
    "",
    "Test: `node greet.test.js`.",
    ""
  ].join("\n"),
  "package.json": JSON.stringify(
    { name: "hello", version: "1.0.0", type: "module", scripts: { test: "node greet.test.js" } },
    null,
    2
  ) + "\n",
  "greet.js": "export const greet = (name) => `Hello, ${name}`\n",
  "greet.test.js": [
    "import assert from \"node:assert/strict\"",
    "import { greet } from \"./greet.js\"",
    "",
    "assert.equal(greet(\"Ada\"), \"Hello, Ada!\")",
    "console.log(\"ok: greet\")",
    ""
  ].join("\n")
}

/** `greet.js` as the fix leaves it. */
export const fixedGreet = "export const greet = (name) => `Hello, ${name}!`\n"

/** The sample issue: the failing test, as a user would report it. */
export const issue = {
  title: "greet() forgets the exclamation mark",
  body: "The README says `greet(\"Ada\")` returns `Hello, Ada!`, but it returns `Hello, Ada` and " +
    "`node greet.test.js` fails."
}

/** The part of GitHub's repository answer the sample's setup reads. */
export const Repository = Schema.Struct({
  full_name: Schema.String,
  html_url: Schema.String,
  default_branch: Schema.String
})
/** The part of GitHub's issue answer the sample's setup reads. */
export const Issue = Schema.Struct({ number: Schema.Number, html_url: Schema.String })

const git = (cwd: string, args: ReadonlyArray<string>) =>
  Effect.callback<string, CliFailure>((resume) => {
    execFile("git", [...args], {
      cwd,
      env: {
        PATH: process.env["PATH"] ?? "/usr/bin:/bin",
        HOME: cwd,
        GIT_CONFIG_NOSYSTEM: "1",
        GIT_CONFIG_GLOBAL: "/dev/null",
        GIT_TERMINAL_PROMPT: "0",
        GIT_AUTHOR_NAME: "Porter demo",
        GIT_AUTHOR_EMAIL: "demo@porter.invalid",
        GIT_COMMITTER_NAME: "Porter demo",
        GIT_COMMITTER_EMAIL: "demo@porter.invalid"
      },
      timeout: 60_000
    }, (error, stdout, stderr) => {
      if (error === null) return resume(Effect.succeed(stdout))
      const missing = (error as NodeJS.ErrnoException).code === "ENOENT"
      resume(Effect.fail(fail(
        missing
          ? "git is not installed: install git (2.31 or later) and run again"
          : `git ${args[0]} failed: ${stderr.trim().split("\n").at(-1) ?? error.message}`
      )))
    })
  })

/**
 * Creates `<admin>/hello` with the sample files on `main` (one commit on top of the README `auto_init` makes).
 * Returns its full name.
 */
export const createRepository = (
  github: GitHubEmulator.Emulator
): Effect.Effect<string, CliFailure, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const admin = yield* GitHubRest.make(github.url, github.admin.token)
    const repo = yield* admin.json("POST", "/user/repos", Repository, {
      name: REPO,
      description: "A tiny greeting library (Porter's sample repository)",
      auto_init: true
    })
    yield* Effect.acquireUseRelease(
      Effect.promise(() => mkdtemp(path.join(tmpdir(), "porter-sample-"))),
      (dir) =>
        Effect.gen(function*() {
          const remote = new URL(`${github.url}/${repo.full_name}.git`)
          remote.username = github.admin.login
          remote.password = github.admin.token
          yield* git(dir, ["clone", "--quiet", remote.href, "repo"])
          const clone = path.join(dir, "repo")
          for (const [name, content] of Object.entries(files)) {
            yield* Effect.promise(() => writeFile(path.join(clone, name), content))
          }
          yield* git(clone, ["add", "-A"])
          yield* git(clone, ["commit", "--quiet", "-m", "A greeting library and its test"])
          yield* git(clone, ["push", "--quiet", "origin", `HEAD:${repo.default_branch}`])
        }),
      (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
    )
    return repo.full_name
  })

/** A user with write access to `repo` (created in the emulator); returns the user's login and token. */
export const addCollaborator = (github: GitHubEmulator.Emulator, repo: string, login: string) =>
  Effect.gen(function*() {
    const user = yield* Effect.tryPromise({
      try: () => github.createUser(login),
      catch: (error) => fail(`the GitHub emulator cannot create @${login}: ${String(error)}`)
    })
    const admin = yield* GitHubRest.make(github.url, github.admin.token)
    yield* admin.json("PUT", `/repos/${repo}/collaborators/${login}`, Schema.Unknown, { permission: "push" })
    return user
  })

/** Opens the sample issue on `repo` as the admin; returns its number. */
export const openIssue = (github: GitHubEmulator.Emulator, repo: string) =>
  Effect.flatMap(
    GitHubRest.make(github.url, github.admin.token),
    (admin) => admin.json("POST", `/repos/${repo}/issues`, Issue, issue)
  )

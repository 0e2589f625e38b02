/** Real git against the emulator, as a person would use it: seed a repository by pushing, read commits by fetching. */
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import * as path from "node:path"

export interface Run {
  readonly code: number
  readonly stdout: Buffer
  readonly stderr: string
}

/** `git …args` in `cwd` with no user or system configuration; never prompts. */
export const git = (cwd: string, ...args: ReadonlyArray<string>) =>
  Effect.callback<Run>((resume) => {
    execFile("git", [...args], {
      cwd,
      encoding: "buffer",
      maxBuffer: 64 * 1024 * 1024,
      env: {
        PATH: process.env["PATH"],
        HOME: cwd,
        LANG: "C",
        GIT_CONFIG_NOSYSTEM: "1",
        GIT_TERMINAL_PROMPT: "0",
        GIT_AUTHOR_NAME: "Seed",
        GIT_AUTHOR_EMAIL: "seed@example.com",
        GIT_COMMITTER_NAME: "Seed",
        GIT_COMMITTER_EMAIL: "seed@example.com"
      }
    }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : 1) : 0
      resume(Effect.succeed({ code, stdout, stderr: stderr.toString("utf8") }))
    })
  })

/** Like `git`, failing the test on a non-zero exit; stdout as text. */
export const gitOk = (cwd: string, ...args: ReadonlyArray<string>) =>
  Effect.flatMap(git(cwd, ...args), (run) =>
    run.code === 0
      ? Effect.succeed(run.stdout.toString("utf8"))
      : Effect.die(new Error(`git ${args.join(" ")} failed (${run.code}): ${run.stderr.trim()}`)))

/** A temporary directory removed when the scope closes. */
export const tempDir = Effect.acquireRelease(
  Effect.promise(() => mkdtemp(path.join(tmpdir(), "porter-github-test-"))),
  (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
)

/** `http://x-access-token:<token>@host/owner/repo.git` */
export const cloneUrl = (apiUrl: string, fullName: string, token: string) => {
  const url = new URL(`${apiUrl}/${fullName}.git`)
  url.username = "x-access-token"
  url.password = token
  return url.toString()
}

export interface SeedFile {
  readonly path: string
  readonly content: string | Uint8Array
  readonly mode?: string
}

/** Writes `files` in a new work tree at `dir` (links as symbolic links, `100755` executable) and commits them. */
export const commitFiles = Effect.fnUntraced(function*(dir: string, branch: string, files: ReadonlyArray<SeedFile>) {
  yield* Effect.promise(() => mkdir(dir, { recursive: true }))
  yield* gitOk(dir, "init", "--quiet", `--initial-branch=${branch}`)
  for (const file of files) {
    const target = path.join(dir, file.path)
    yield* Effect.promise(async () => {
      await mkdir(path.dirname(target), { recursive: true })
      if (file.mode === "120000") await symlink(String(file.content), target)
      else {
        await writeFile(target, file.content)
        if (file.mode === "100755") await chmod(target, 0o755)
      }
    })
  }
  yield* gitOk(dir, "-c", "core.autocrlf=false", "add", "--all")
  yield* gitOk(dir, "commit", "--quiet", "-m", "Seed")
  return (yield* gitOk(dir, "rev-parse", "HEAD")).trim()
})

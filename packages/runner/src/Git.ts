/**
 * Git, as the runner needs it: a shallow single-branch clone through Porter's read-only git proxy, a branch, a commit
 * as the bot, and the plumbing the change set is read with (`read`). Nothing is pushed: the machine holds no token
 * that can write. The task token travels only in the environment of the clone (`GIT_CONFIG_COUNT` →
 * `http.<clone URL>.extraHeader`), so it is never written to `.git/config`, never in argv, never in a log; every call
 * after the clone is local and carries no credential at all.
 *
 * The agent works in the clone after `clone` and may have changed `.git/config`, hooks, `.git/commondir` or the
 * user's global config; `lockDown` puts back the configuration saved after the clone and removes the rest, and every
 * git call ignores system/global config, hooks, fsmonitor, credential helpers, replace refs and grafts. What it cannot
 * undo: an agent that edits git's own binaries or PATH (the image keeps git root-owned).
 */
import { Context, Effect, Layer, Option, Redacted, Schema, Stream } from "effect"
import { FileSystem } from "effect/FileSystem"
import { ChildProcess, ChildProcessSpawner } from "effect/process"
import { authorizationHeader, cloneArgs, gitEnvironment } from "./GitEnv.ts"
import * as Proc from "./Proc.ts"
import * as RefFiles from "./RefFiles.ts"
import { RunLog } from "./RunLog.ts"

/** A git command failed: which one, its exit code and its (scrubbed) output. */
export class GitFailed extends Schema.TaggedError<GitFailed>()("GitFailed", {
  operation: Schema.String,
  exitCode: Schema.optional(Schema.Number),
  detail: Schema.String
}) {
  override get message(): string {
    return `git ${this.operation} failed${
      this.exitCode !== undefined ? ` (exit ${this.exitCode})` : ""
    }: ${this.detail}`
  }
}

/** Where HEAD is: its branch (none when detached) and commit. */
export interface Head {
  /** `undefined` when HEAD is detached. */
  readonly branch: string | undefined
  readonly sha: string
}

/** The git commands the runner runs: clone, branch, commit, and reading the change set. */
export class Git extends Context.Service<Git, {
  /** `git clone --depth 1 --single-branch --no-tags [--filter=blob:none] [--branch b] url dir`. */
  readonly clone: (options: {
    readonly url: string
    readonly branch: string | undefined
    readonly dir: string
    readonly filter: boolean
  }) => Effect.Effect<void, GitFailed>
  readonly head: (dir: string) => Effect.Effect<Head, GitFailed>
  /**
   * HEAD of a fresh clone (nothing else has touched it): read from git's ref files without a process where they are
   * the plain kind (`RefFiles`), else as `head`. After the agent, use `head`: git reads what the agent left.
   */
  readonly clonedHead: (dir: string) => Effect.Effect<Head, GitFailed>
  /** The commit a ref points at, if it exists. */
  readonly resolve: (dir: string, ref: string) => Effect.Effect<Option.Option<string>, GitFailed>
  /**
   * A new branch at HEAD of a fresh clone, checked out (the work tree and index stay as they are); fails if it exists.
   * Written as ref files where git keeps them plainly (`RefFiles`), else by git.
   */
  readonly createBranch: (dir: string, name: string) => Effect.Effect<void, GitFailed>
  /** Saves `.git/config` as it is now (right after the clone). */
  readonly saveConfig: (dir: string) => Effect.Effect<void, GitFailed>
  /**
   * Undoes what the agent could have done to git's own configuration: restores the saved `.git/config`, removes
   * `.git/hooks`, `.git/commondir` (another directory's config, refs and objects) and `.git/config.worktree`.
   */
  readonly lockDown: (dir: string) => Effect.Effect<void, GitFailed>
  /** Commits everything left in the work tree as the bot; the new commit, or none when clean. */
  readonly commitAll: (dir: string, message: string) => Effect.Effect<Option.Option<string>, GitFailed>
  readonly isAncestor: (dir: string, ancestor: string, descendant: string) => Effect.Effect<boolean, GitFailed>
  /** A local, read-only git command (plumbing); its standard output as bytes. `input` is its standard input. */
  readonly read: (
    dir: string,
    args: ReadonlyArray<string>,
    input?: Uint8Array
  ) => Effect.Effect<Uint8Array, GitFailed>
}>()("@porter/runner/Git") {}

/** Git's credentials and identity: the token for Porter's git proxy, the bot's name and email, PATH and HOME. */
export interface Options {
  /** The task token: sent to the clone URL (Porter's git proxy) only. */
  readonly token: Redacted.Redacted<string>
  readonly name: string
  readonly email: string
  /** PATH for git (default: the runner's). */
  readonly path?: string
  readonly home?: string
}

const lastLines = (text: string, n = 6) => text.trim().split("\n").slice(-n).join(" | ")

/** `Git` on a child-process spawner and the run log. */
export const make = Effect.fnUntraced(function*(options: Options) {
  const log = yield* RunLog
  const fs = yield* FileSystem
  const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
  const saved = new Map<string, string>()

  const identity = { name: options.name, email: options.email }
  const header = Redacted.make(authorizationHeader(Redacted.value(options.token)))
  const envFor = (url: string | undefined) =>
    gitEnvironment({
      path: options.path ?? process.env["PATH"] ?? "/usr/local/bin:/usr/bin:/bin",
      home: options.home ?? process.env["HOME"] ?? "/tmp",
      identity,
      url,
      header
    })

  const git = (operation: string, args: ReadonlyArray<string>, cwd: string | undefined, url?: string, quiet = true) =>
    Proc.run("git", args, {
      env: envFor(url),
      ...(cwd !== undefined ? { cwd } : {}),
      onLine: (_stream, line) => (quiet || line.trim() === "" ? Effect.void : log.line("git", line))
    }).pipe(
      Effect.provideService(ChildProcessSpawner.ChildProcessSpawner, spawner),
      Effect.mapError((error) => new GitFailed({ operation, detail: error.message }))
    )

  const ok = Effect.fnUntraced(function*(
    operation: string,
    args: ReadonlyArray<string>,
    cwd: string | undefined,
    url?: string,
    quiet = true
  ) {
    const result = yield* git(operation, args, cwd, url, quiet)
    if (result.exitCode !== 0) {
      return yield* new GitFailed({
        operation,
        exitCode: result.exitCode,
        detail: lastLines(result.stderr) || "no output"
      })
    }
    return result.stdout.trim()
  })

  const clone = Effect.fn("Git.clone")(function*(o: {
    readonly url: string
    readonly branch: string | undefined
    readonly dir: string
    readonly filter: boolean
  }) {
    yield* ok("clone", cloneArgs(o), undefined, o.url, false)
  })

  const clonedHead = Effect.fn("Git.clonedHead")(function*(dir: string) {
    return RefFiles.readHead(dir) ?? (yield* head(dir))
  })

  const head = Effect.fn("Git.head")(function*(dir: string) {
    // One process: the commit, then the ref HEAD points at (`refs/heads/<branch>`, or `HEAD` when detached); `--`
    // (echoed last) keeps a file named HEAD from making the arguments ambiguous.
    const out = yield* ok("rev-parse", ["rev-parse", "HEAD", "--symbolic-full-name", "HEAD", "--"], dir)
    const [sha = "", ref = ""] = out.split("\n").map((line) => line.trim())
    if (!/^[0-9a-f]{40,64}$/.test(sha)) {
      return yield* new GitFailed({ operation: "rev-parse", detail: `unexpected output: ${out.slice(0, 200)}` })
    }
    return { sha, branch: ref.startsWith("refs/heads/") ? ref.slice("refs/heads/".length) : undefined } satisfies Head
  })

  const resolve = Effect.fn("Git.resolve")(function*(dir: string, ref: string) {
    const result = yield* git("rev-parse", ["rev-parse", "--verify", "-q", `${ref}^{commit}`], dir)
    return result.exitCode === 0 ? Option.some(result.stdout.trim()) : Option.none<string>()
  })

  const createBranch = Effect.fn("Git.createBranch")(function*(dir: string, name: string) {
    const at = RefFiles.readHead(dir)
    if (at !== undefined && RefFiles.createBranch(dir, name, at.sha)) return
    // What `checkout -b` does at the same commit, without its pass over the index and work tree (a stat of every
    // file: 0.1-0.3 s on 20,000 files). The empty old value refuses a branch that already exists.
    yield* ok("update-ref", ["update-ref", "-m", "branch: Created from HEAD", `refs/heads/${name}`, "HEAD", ""], dir)
    yield* ok("symbolic-ref", ["symbolic-ref", "-m", `checkout: moving to ${name}`, "HEAD", `refs/heads/${name}`], dir)
  })

  const configPath = (dir: string) => `${dir}/.git/config`

  const saveConfig = Effect.fn("Git.saveConfig")(function*(dir: string) {
    const text = yield* fs.readFileString(configPath(dir)).pipe(
      Effect.mapError((error) => new GitFailed({ operation: "save config", detail: error.message }))
    )
    saved.set(dir, text)
  })

  const lockDown = Effect.fn("Git.lockDown")(function*(dir: string) {
    const text = saved.get(dir)
    const fail = (detail: string) => new GitFailed({ operation: "restore config", detail })
    // A `.git` the agent replaced by a file or a link is not ours any more.
    const info = yield* fs.stat(`${dir}/.git`).pipe(Effect.mapError((e) => fail(e.message)))
    if (info.type !== "Directory") return yield* fail(".git is no longer a directory")
    if (text !== undefined) {
      yield* fs.remove(configPath(dir), { force: true }).pipe(Effect.mapError((e) => fail(e.message)))
      yield* fs.writeFileString(configPath(dir), text).pipe(Effect.mapError((e) => fail(e.message)))
    }
    for (const path of ["hooks", "commondir", "config.worktree"]) {
      yield* fs.remove(`${dir}/.git/${path}`, { recursive: true, force: true }).pipe(
        Effect.mapError((e) => fail(e.message))
      )
    }
  })

  const commitAll = Effect.fn("Git.commitAll")(function*(dir: string, message: string) {
    yield* ok("add", ["add", "--all"], dir)
    const staged = yield* git("diff", ["diff", "--cached", "--quiet"], dir)
    if (staged.exitCode === 0) return Option.none<string>()
    if (staged.exitCode !== 1) {
      return yield* new GitFailed({ operation: "diff", exitCode: staged.exitCode, detail: lastLines(staged.stderr) })
    }
    yield* ok("commit", ["commit", "--no-verify", "--no-gpg-sign", "-q", "-m", message], dir)
    return Option.some(yield* ok("rev-parse", ["rev-parse", "--verify", "HEAD"], dir))
  })

  const isAncestor = Effect.fn("Git.isAncestor")(function*(dir: string, ancestor: string, descendant: string) {
    const result = yield* git("merge-base", ["merge-base", "--is-ancestor", ancestor, descendant], dir)
    if (result.exitCode === 0) return true
    if (result.exitCode === 1) return false
    return yield* new GitFailed({
      operation: "merge-base",
      exitCode: result.exitCode,
      detail: lastLines(result.stderr)
    })
  })

  const read = Effect.fn("Git.read")(function*(dir: string, args: ReadonlyArray<string>, input?: Uint8Array) {
    const operation = args[0] ?? "git"
    const command = ChildProcess.make("git", args, {
      env: envFor(undefined),
      extendEnv: false,
      cwd: dir,
      stdin: input === undefined ? "ignore" : Stream.make(input)
    })
    const collect = <E>(stream: Stream.Stream<Uint8Array, E>) =>
      Stream.runFold(stream, () => [] as Array<Uint8Array>, (chunks, chunk) => {
        chunks.push(chunk)
        return chunks
      }).pipe(Effect.map((chunks) => Buffer.concat(chunks)))
    const [stdout, stderr, exitCode] = yield* Effect.scoped(Effect.gen(function*() {
      const handle = yield* spawner.spawn(command)
      return yield* Effect.all([collect(handle.stdout), collect(handle.stderr), handle.exitCode], {
        concurrency: "unbounded"
      })
    })).pipe(Effect.mapError((error) => new GitFailed({ operation, detail: error.message })))
    if (exitCode !== 0) {
      return yield* new GitFailed({
        operation,
        exitCode: Number(exitCode),
        detail: lastLines(stderr.toString("utf8")) || "no output"
      })
    }
    return stdout as Uint8Array
  })

  return Git.of({
    clone,
    head,
    clonedHead,
    resolve,
    createBranch,
    saveConfig,
    lockDown,
    commitAll,
    isAncestor,
    read
  })
})

/** `Git` with its options. */
export const layer = (
  options: Options
): Layer.Layer<Git, never, RunLog | FileSystem | ChildProcessSpawner.ChildProcessSpawner> =>
  Layer.effect(Git, make(options))

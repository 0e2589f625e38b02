/**
 * Runs the `porter` command as a child process, the way a user does:
 * `node --conditions=@porter/source -- packages/cli/src/bin.ts …` (the `--` keeps Node from taking
 * `porter doctor --env-file F` as its own option), with this test's environment minus the
 * `PORTER_URL` / `PORTER_ADMIN_TOKEN` a developer may have exported.
 */
import { GitHubEmulator } from "@porter/testkit"
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

export const cliRoot = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "..")
export const binTs = path.join(cliRoot, "src", "bin.ts")

export interface Ran {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

export interface RunOptions {
  readonly env?: Readonly<Record<string, string | undefined>>
  /** Written to stdin, which is then closed (default: stdin closed at once, so it is not a terminal). */
  readonly stdin?: string
  readonly timeoutMs?: number
}

const baseEnv = (extra: Readonly<Record<string, string | undefined>> = {}): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env }
  delete env["PORTER_URL"]
  delete env["PORTER_ADMIN_TOKEN"]
  delete env["PORTER_DEBUG"]
  for (const [name, value] of Object.entries(extra)) {
    if (value === undefined) delete env[name]
    else env[name] = value
  }
  return env
}

/** Starts `porter …args` (stdin piped); the caller reads and ends it. */
export const spawnPorter = (args: ReadonlyArray<string>, options: RunOptions = {}): ChildProcess =>
  spawn(process.execPath, ["--conditions=@porter/source", "--", binTs, ...args], {
    cwd: cliRoot,
    env: baseEnv(options.env),
    stdio: ["pipe", "pipe", "pipe"]
  })

/** Runs `porter …args` to the end. A run longer than `timeoutMs` (default 60 s) is killed and rejected. */
export const porter = (args: ReadonlyArray<string>, options: RunOptions = {}): Promise<Ran> =>
  new Promise((resolve, reject) => {
    const child = spawnPorter(args, options)
    let stdout = ""
    let stderr = ""
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(
        new Error(`porter ${args.join(" ")} ran longer than ${options.timeoutMs ?? 60_000} ms\n${stdout}\n${stderr}`)
      )
    }, options.timeoutMs ?? 60_000)
    child.once("error", reject)
    child.once("close", (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
    child.stdin!.end(options.stdin ?? "")
  })

/** Every descendant of `pid` (children, their children, …), from `ps`. */
export const descendants = (pid: number): Array<number> => {
  const table = execFileSync("ps", ["-e", "-o", "pid=,ppid="], { encoding: "utf8" })
    .trim()
    .split("\n")
    .map((line) => line.trim().split(/\s+/).map(Number) as [number, number])
  const found: Array<number> = []
  const queue = [pid]
  while (queue.length > 0) {
    const parent = queue.shift()!
    for (const [child, ppid] of table) {
      if (ppid === parent && !found.includes(child)) {
        found.push(child)
        queue.push(child)
      }
    }
  }
  return found
}

export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** The lines a run wrote to stderr, without blank ones. */
export const lines = (text: string): Array<string> => text.split("\n").filter((line) => line.trim() !== "")

/** The first line of `porter dev --json`. */
export interface DevInfo {
  readonly worker: string
  readonly github: string
  readonly githubAdminToken: string
  readonly machines: string
  readonly webhookSecret: string
  readonly owner: string
  readonly webApp: string
}

export interface DevProcess {
  readonly info: DevInfo
  readonly firstLine: string
  readonly child: ChildProcess
  readonly stdout: () => string
  readonly stderr: () => string
  readonly exited: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
  /** SIGTERM, then SIGKILL after 15 s; resolves once it exited. */
  readonly stop: () => Promise<void>
}

/** Starts `porter dev --json …args` and resolves with its first line, parsed (rejects if it ends first). */
export const startDev = (args: ReadonlyArray<string>, timeoutMs = 60_000): Promise<DevProcess> =>
  new Promise((resolve, reject) => {
    const child = spawnPorter(["dev", "--json", ...args])
    let stdout = ""
    let stderr = ""
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
      child.once("exit", (code, signal) => done({ code, signal }))
    )
    const stop = async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill("SIGTERM")
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000)
      await exited
      clearTimeout(timer)
    }
    const timer = setTimeout(() => {
      void stop()
      reject(new Error(`porter dev did not start in ${timeoutMs} ms:\n${stderr}`))
    }, timeoutMs)
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      const before = stdout
      stdout += chunk
      if (before.includes("\n") || !stdout.includes("\n")) return
      clearTimeout(timer)
      const firstLine = stdout.slice(0, stdout.indexOf("\n"))
      try {
        const info = JSON.parse(firstLine) as DevInfo
        resolve({ info, firstLine, child, stdout: () => stdout, stderr: () => stderr, exited, stop })
      } catch (error) {
        void stop()
        reject(new Error(`the first line of porter dev --json is not JSON: ${firstLine}\n${String(error)}`))
      }
    })
    void exited.then(({ code }) => {
      clearTimeout(timer)
      reject(new Error(`porter dev exited (${code}) before it printed:\n${stderr}`))
    })
  })

/** A JSON request with a bearer token; rejects on a non-2xx answer. */
export const request = <A>(method: string, url: string, token: string, body?: unknown): Promise<A> =>
  GitHubEmulator.rest<A>(token, method, url, body)

export interface TaskRow {
  readonly id: string
  readonly state: string
  readonly repo: string
  readonly issueNumber: number
  readonly machineId?: string
  readonly prUrl?: string
  readonly reason?: string
}

/** Polls a Worker's admin API until the issue has a task in one of `states` (rejects after `timeoutMs`). */
export const waitForTask = async (
  worker: string,
  adminToken: string,
  repo: string,
  issue: number,
  states: ReadonlyArray<string>,
  timeoutMs = 60_000
): Promise<TaskRow> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const { tasks } = await request<{ tasks: ReadonlyArray<TaskRow> }>(
      "GET",
      `${worker}/admin/tasks?repo=${encodeURIComponent(repo)}`,
      adminToken
    )
    const task = tasks.find((t) => t.issueNumber === issue)
    if (task !== undefined && states.includes(task.state)) return task
    if (Date.now() > deadline) {
      throw new Error(`no task on ${repo}#${issue} in ${states.join("/")}: ${JSON.stringify(task)}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

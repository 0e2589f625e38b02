/**
 * Boot: the first module `main.ts` loads, before Effect and the rest of the runner. It reads the
 * machine environment once and, for a task run, starts the shallow clone at once: git then works
 * while Node loads and initialises the program (~150 ms), so the runner's time before the agent
 * starts stays close to a plain `git clone`. The program takes the clone over (`EarlyClone`),
 * checks it against the decoded environment, and reports its outcome like any other step.
 *
 * Only Node built-ins here: anything imported is loaded before the clone starts.
 */
import { spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { authorizationHeader, cloneArgs, gitEnvironment, stripCredentials } from "./GitEnv.ts"

export interface EarlyClone {
  readonly url: string
  readonly branch: string | undefined
  readonly filter: boolean
  readonly workdir: string
  /** The workdir is a temp dir made here (removed at the end), not `PORTER_WORKDIR`. */
  readonly temporary: boolean
  readonly dir: string
  readonly done: Promise<{ readonly exitCode: number; readonly output: string }>
}

/**
 * `process.env`, plus the NUL-separated `env -0` dump named by `PORTER_ENV_FILE` (the image's
 * entrypoint moves the environment there so secrets are not in the runner's `/proc/<pid>/environ`,
 * which an agent running as the same user could read). The file is deleted once read.
 */
const readEnvironment = (): Record<string, string | undefined> => {
  const file = process.env["PORTER_ENV_FILE"]
  if (file === undefined || file === "") return { ...process.env }
  const fromFile: Record<string, string> = {}
  try {
    for (const entry of readFileSync(file, "utf8").split("\0")) {
      const eq = entry.indexOf("=")
      if (eq > 0) fromFile[entry.slice(0, eq)] = entry.slice(eq + 1)
    }
  } catch {
    // Unreadable: decoding reports what is missing.
  } finally {
    rmSync(file, { force: true })
  }
  const env: Record<string, string | undefined> = { ...fromFile, ...process.env }
  delete env["PORTER_ENV_FILE"]
  return env
}

const SEGMENT = /^[A-Za-z0-9_.-]{1,100}$/
const BRANCH = /^(?!-)(?!.*\.\.)(?!.*\/\/)(?!.*@\{)(?!.*\.lock(?:\/|$))[^\s~^:?*[\\\x00-\x1f\x7f]{1,250}(?<![./])$/

/** Starts the clone when the environment has what it needs; otherwise the program reports the problem. */
const startClone = (env: Record<string, string | undefined>): EarlyClone | undefined => {
  const rawUrl = env["REPO_CLONE_URL"]
  const fullName = env["REPO_FULL_NAME"] ?? ""
  // The task token: Porter's git proxy serves the task's repository to it, read-only.
  const token = env["CALLBACK_TOKEN"]
  const branch = env["HEAD_BRANCH"] || env["BASE_BRANCH"] || undefined
  const [owner = "", repo = "", ...rest] = fullName.split("/")
  if (rawUrl === undefined || !/^(?:https?|file):\/\/\S+$/.test(rawUrl) || !token) return undefined
  if (!SEGMENT.test(owner) || !SEGMENT.test(repo) || rest.length > 0) return undefined
  if (branch !== undefined && !BRANCH.test(branch)) return undefined
  try {
    const temporary = !env["PORTER_WORKDIR"]
    const workdir = temporary ? mkdtempSync(join(tmpdir(), "porter-")) : env["PORTER_WORKDIR"]!.replace(/\/+$/, "")
    const url = stripCredentials(rawUrl)
    const dir = `${workdir}/${repo}`
    // A full depth-1 clone unless asked otherwise: a partial one fetches the blobs in a second round trip.
    const filter = env["PORTER_CLONE_FILTER"] === "blob:none"
    const child = spawn("git", [...cloneArgs({ url, branch, dir, filter })], {
      env: gitEnvironment({
        path: env["PATH"] ?? "/usr/local/bin:/usr/bin:/bin",
        home: env["HOME"] ?? "/tmp",
        identity: {
          name: env["PORTER_GIT_NAME"] || "porter[bot]",
          email: env["PORTER_GIT_EMAIL"] || "porter[bot]@users.noreply.github.com"
        },
        url,
        header: authorizationHeader(token)
      }),
      stdio: ["ignore", "pipe", "pipe"]
    })
    const done = new Promise<{ exitCode: number; output: string }>((resolve) => {
      let output = ""
      child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")))
      child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")))
      child.on("error", (error) => resolve({ exitCode: 127, output: `${output}${error.message}\n` }))
      child.on("close", (code) => resolve({ exitCode: code ?? 128, output }))
    })
    return { url, branch, filter, workdir, temporary, dir, done }
  } catch {
    return undefined
  }
}

/** The machine environment, read once. */
export const environment: Readonly<Record<string, string | undefined>> = readEnvironment()

/** The clone started at boot (not for `script-agent`, which runs in an existing clone). */
export const earlyClone: EarlyClone | undefined = process.argv[2] === "script-agent"
  ? undefined
  : startClone(environment)

/**
 * Test harness: a machine environment like Porter's Dispatcher sends (for a task the fake Porter serves), and the
 * runner started as a child process the way a machine starts it (`node --conditions=@porter/source src/main.ts`, or
 * the bundle).
 */
import { PromptBuilder } from "@porter/core"
import { spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import type { FakePorter } from "./FakePorter.ts"

const made: Array<string> = []

/** A temp directory, removed by `removeTempDirs` (each test file's fixture calls it when it closes). */
export const tempDir = (prefix: string): string => {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  made.push(dir)
  return dir
}

/** Removes every `tempDir` (and the bundle) made so far. */
export const removeTempDirs = (): void => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true })
  bundle = undefined
}

export const runnerRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..")
export const mainTs = join(runnerRoot, "src", "main.ts")

const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
export const newTaskId = (): string => `task_${[...randomBytes(26)].map((b) => ALPHABET[b & 31]).join("")}`

/** A prompt shaped like `PromptBuilder.render`'s, with `instruction` fenced as the request. */
export const promptFor = (instruction: string, issueTitle = "Fix it"): string => {
  const nonce = randomBytes(6).toString("hex")
  return [
    "You are a coding agent working on a GitHub repository.",
    "",
    "The issue:",
    PromptBuilder.fence(nonce, "issue", `Title: ${issueTitle}\n\nPlease fix it.`),
    "",
    "The request from @octo:",
    PromptBuilder.fence(nonce, "instruction", instruction)
  ].join("\n")
}

export interface TaskEnvInput {
  readonly taskId?: string
  /** The repository, served to the task by `porter`. */
  readonly repo: string
  readonly porter: FakePorter
  readonly issueNumber?: number
  readonly issueTitle?: string
  readonly agent: string
  readonly prompt: string
  readonly model?: string
  readonly deadlineInMs?: number
  readonly heartbeatMs?: number
  readonly extra?: Record<string, string>
}

/** The environment of a task on `repo` (its branch `porter/<issue>-<id>`, unless `extra` sets BRANCH). */
export const taskEnv = (input: TaskEnvInput): Record<string, string> => {
  const taskId = input.taskId ?? newTaskId()
  const issue = input.issueNumber ?? 7
  const branch = input.extra?.["BRANCH"] ?? `porter/${issue}-${taskId.slice(-8)}`
  const urls = input.porter.task(taskId, input.repo, branch)
  return {
    TASK_ID: taskId,
    REPO_FULL_NAME: input.repo,
    REPO_CLONE_URL: urls.cloneUrl,
    BRANCH: branch,
    ISSUE_NUMBER: String(issue),
    ISSUE_TITLE: input.issueTitle ?? "Fix it",
    AGENT: input.agent,
    PROMPT: input.prompt,
    ...(input.model !== undefined ? { MODEL: input.model } : {}),
    CALLBACK_URL: urls.callbackUrl,
    TASK_DEADLINE: new Date(Date.now() + (input.deadlineInMs ?? 120_000)).toISOString(),
    HEARTBEAT_INTERVAL_MS: String(input.heartbeatMs ?? 30_000),
    REQUESTED_BY: "octo",
    CALLBACK_TOKEN: input.porter.token,
    PORTER_CALLBACK_RETRY_BASE_MS: "50",
    PORTER_CALLBACK_RETRIES: "3",
    ...input.extra
  }
}

export interface RunnerExit {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
  readonly ms: number
}

/** The environment every child starts from: enough to find node, git and a HOME. */
export const baseEnv = (): Record<string, string> => ({
  PATH: process.env["PATH"] ?? "/usr/bin:/bin",
  HOME: process.env["HOME"] ?? "/tmp",
  LANG: "C.UTF-8"
})

let bundle: Promise<string> | undefined

/** Builds `dist/runner.mjs` (and its chunks, beside it) into a temp dir once per test process (esbuild, ~1 s). */
export const buildBundle = (): Promise<string> => {
  bundle ??= new Promise((resolve, reject) => {
    const out = join(tempDir("porter-bundle-"), "runner.mjs")
    const child = spawn(process.execPath, [join(runnerRoot, "scripts", "build-bundle.mjs"), out], {
      stdio: ["ignore", "ignore", "pipe"]
    })
    let stderr = ""
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString("utf8")))
    child.on("close", (code) => (code === 0 ? resolve(out) : reject(new Error(`bundle build failed: ${stderr}`))))
  })
  return bundle
}

/** Runs the runner as a machine would: a fresh process with only `env`. */
export const runRunner = (
  env: Record<string, string>,
  options: { readonly entry?: string; readonly timeoutMs?: number; readonly onStdout?: (chunk: string) => void } = {}
): Promise<RunnerExit> =>
  new Promise((resolve, reject) => {
    const started = Date.now()
    const entry = options.entry ?? mainTs
    const args = entry.endsWith(".ts") ? ["--conditions=@porter/source", entry] : [entry]
    const child = spawn(process.execPath, args, { env: { ...baseEnv(), ...env }, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (c: Buffer) => {
      stdout += c.toString("utf8")
      options.onStdout?.(c.toString("utf8"))
    })
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString("utf8")))
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`runner did not exit within ${options.timeoutMs ?? 60_000} ms\n${stdout}\n${stderr}`))
    }, options.timeoutMs ?? 60_000)
    child.on("error", reject)
    child.on("close", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr, ms: Date.now() - started })
    })
  })

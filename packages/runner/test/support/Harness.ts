/**
 * Test harness: a callback server that records what the runner reports, a machine environment
 * like `Porter.dispatch` sends, and the runner started as a child process the way a machine starts
 * it (`node --conditions=@porter/source src/main.ts`, or the bundle).
 */
import { PromptBuilder } from "@porter/core"
import { spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

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

export interface ReceivedCallback {
  readonly taskId: string
  readonly authorization: string | undefined
  readonly body: Record<string, unknown> & { readonly type: string }
  readonly raw: string
}

export interface CallbackServer {
  readonly url: (taskId: string) => string
  readonly token: string
  /** Callbacks received for one task, in order. */
  readonly received: (taskId: string) => ReadonlyArray<ReceivedCallback>
  readonly completed: (taskId: string) => (Record<string, unknown> & { readonly type: string }) | undefined
  /** How to answer a task's callbacks (default 200; 409 says the task has ended). */
  readonly answer: (taskId: string, status: (callback: ReceivedCallback, index: number) => number) => void
  readonly close: () => Promise<void>
}

export const startCallbackServer = async (): Promise<CallbackServer> => {
  const token = `cbt_${randomBytes(18).toString("base64url")}`
  const received: Array<ReceivedCallback> = []
  const answers = new Map<string, (callback: ReceivedCallback, index: number) => number>()
  const server = createServer((request, response) => {
    const chunks: Array<Buffer> = []
    request.on("data", (c: Buffer) => chunks.push(c))
    request.on("end", () => {
      const raw = Buffer.concat(chunks).toString("utf8")
      const taskId = /\/callbacks\/tasks\/([^/?]+)/.exec(request.url ?? "")?.[1] ?? ""
      const callback = { taskId, authorization: request.headers.authorization, body: JSON.parse(raw), raw }
      received.push(callback)
      const status = answers.get(taskId)?.(callback, received.filter((r) => r.taskId === taskId).length - 1) ?? 200
      response.writeHead(status, { "content-type": "application/json" })
      // What Porter's API answers (`@porter/core`'s Api: 409 is `TaskEnded`).
      response.end(JSON.stringify(
        status === 409
          ? { _tag: "TaskEnded", state: "cancelled", message: "task is already cancelled" }
          : status === 200
          ? { accepted: true, state: "running" }
          : { _tag: status === 401 ? "Unauthorized" : "BadRequest", message: `HTTP ${status}` }
      ))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    url: (taskId) => `${base}/callbacks/tasks/${taskId}`,
    token,
    received: (taskId) => received.filter((r) => r.taskId === taskId),
    completed: (taskId) => received.find((r) => r.taskId === taskId && r.body.type === "completed")?.body,
    answer: (taskId, status) => void answers.set(taskId, status),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}

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
  readonly apiUrl: string
  readonly cloneUrl: string
  readonly repo: string
  readonly githubToken: string
  readonly callback: CallbackServer
  readonly issueNumber?: number
  readonly issueTitle?: string
  readonly agent: string
  readonly prompt: string
  readonly model?: string
  readonly deadlineInMs?: number
  readonly heartbeatMs?: number
  readonly extra?: Record<string, string>
}

export const taskEnv = (input: TaskEnvInput): Record<string, string> => {
  const taskId = input.taskId ?? newTaskId()
  const issue = input.issueNumber ?? 7
  return {
    TASK_ID: taskId,
    REPO_FULL_NAME: input.repo,
    REPO_CLONE_URL: input.cloneUrl,
    BRANCH: `porter/${issue}-${taskId.slice(-8)}`,
    ISSUE_NUMBER: String(issue),
    ISSUE_TITLE: input.issueTitle ?? "Fix it",
    AGENT: input.agent,
    PROMPT: input.prompt,
    ...(input.model !== undefined ? { MODEL: input.model } : {}),
    GITHUB_API_URL: input.apiUrl,
    CALLBACK_URL: input.callback.url(taskId),
    TASK_DEADLINE: new Date(Date.now() + (input.deadlineInMs ?? 120_000)).toISOString(),
    HEARTBEAT_INTERVAL_MS: String(input.heartbeatMs ?? 30_000),
    REQUESTED_BY: "octo",
    GITHUB_TOKEN: input.githubToken,
    CALLBACK_TOKEN: input.callback.token,
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

/** Builds `dist/runner.mjs` into a temp dir once per test process (esbuild, ~1 s). */
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

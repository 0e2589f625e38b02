/**
 * Everything Porter says on an issue. Adapters post these words unchanged, so the in-memory
 * recorder shows tests exactly what a user would read.
 */
import type { AgentSpec } from "./Agent.ts"
import { formatBudget, formatUsd } from "./Pricing.ts"
import type { RepoSettings } from "./Settings.ts"
import type { Task, TaskState } from "./Task.ts"

/** A hidden, machine-readable marker at the end of each status comment. */
export const marker = (task: Pick<Task, "id" | "state">): string =>
  `<!-- porter:task ${JSON.stringify({ id: task.id, state: task.state })} -->`

/** Any comment Porter wrote carries this; Porter never acts on such comments. */
export const MARKER_PREFIX = "<!-- porter:"

/** The task id and state hidden in a status comment, if it is one. */
export const parseMarker = (body: string): { readonly id: string; readonly state: TaskState } | undefined => {
  const match = /<!-- porter:task (\{.*?\}) -->/.exec(body)
  if (!match) return undefined
  try {
    const value = JSON.parse(match[1]!) as { id?: unknown; state?: unknown }
    return typeof value.id === "string" && typeof value.state === "string"
      ? { id: value.id, state: value.state as TaskState }
      : undefined
  } catch {
    return undefined
  }
}

/** A duration as people read it: `45s`, `3m 20s`, `1h 5m`. */
export const formatDuration = (ms: number): string => {
  const seconds = Math.max(0, Math.round(ms / 1000))
  if (seconds < 60) return `${seconds}s`
  const minutes = Math.floor(seconds / 60)
  if (minutes < 60) return `${minutes}m ${seconds % 60}s`
  const hours = Math.floor(minutes / 60)
  return `${hours}h ${minutes % 60}m`
}

/** A code block whose fence is longer than any run of backticks inside. */
export const codeBlock = (text: string): string => {
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((m) => m[0].length))
  const fence = "`".repeat(longest + 1)
  return `${fence}\n${text}\n${fence}`
}

const number = (n: number): string => n.toLocaleString("en-US")

/** A task's tokens and cost (and its cap), or nothing when there is no usage. */
export const formatUsage = (usage: Task["usage"], capUsd?: number): string | undefined => {
  if (!usage) return undefined
  const parts: Array<string> = []
  if (usage.inputTokens !== undefined || usage.outputTokens !== undefined) {
    parts.push(`${number(usage.inputTokens ?? 0)} input / ${number(usage.outputTokens ?? 0)} output tokens`)
  }
  if (usage.cacheReadTokens) parts.push(`${number(usage.cacheReadTokens)} cached`)
  if (usage.cacheWriteTokens) parts.push(`${number(usage.cacheWriteTokens)} written to cache`)
  if (usage.costUsd !== undefined) {
    parts.push(`${formatUsd(usage.costUsd)}${capUsd !== undefined ? ` of ${formatBudget(capUsd)} budget` : ""}`)
  }
  if (usage.turns !== undefined) parts.push(`${usage.turns} turns`)
  return parts.length > 0 ? parts.join(" · ") : undefined
}

const agentLabel = (task: Task): string => `\`${task.agent}\`${task.model ? ` (${task.model})` : ""}`

/**
 * Mentions, links, issue references and HTML comments made inert, for text an agent wrote that Porter shows: it must
 * not ping anyone, link anywhere, cross-reference issues on Porter's behalf, or hide a forged `porter:task` marker.
 */
export const neutralise = (text: string): string =>
  text
    .replace(/<!--/g, "&lt;!--")
    .replace(/@(?=[A-Za-z0-9-])/g, "@\u200b")
    .replace(/\b(https?|ftp):\/\//gi, "$1\u200b://")
    .replace(/(^|[\s(])#(\d+)/g, "$1#\u200b$2")

const quote = (text: string): string => text.trim().split("\n").map((line) => `> ${line}`).join("\n")

const LOG_LINES = 30

/** What the status comment shows besides the task's own fields. */
export interface StatusOptions {
  /** The task's model budget (USD), shown beside its spend while it runs. */
  readonly capUsd?: number | undefined
  /** The agent keeps its key on the machine (Amp): Porter cannot meter its calls, and says so. */
  readonly unmetered?: boolean | undefined
  /** A queued task's place in its repository's queue (from 1), when it waits for a slot. */
  readonly queuePosition?: number | undefined
}

/** The status comment's text for a task at time `now`. */
export const status = (task: Task, now: number, mention = "porter", options: StatusOptions = {}): string => {
  const elapsed = formatDuration((task.finishedAt ?? now) - (task.startedAt ?? task.createdAt))
  const lines: Array<string> = []
  switch (task.state) {
    case "awaiting_approval":
      for (const line of awaitingApproval(task, mention)) lines.push(line)
      break
    case "queued":
      lines.push(
        `👀 Queued: ${agentLabel(task)} will ${
          task.mode === "ask" ? "answer" : "work on"
        } this for @${task.requestedBy.login}${
          options.queuePosition !== undefined
            ? ` — number ${options.queuePosition} in this repository's queue, it starts when a slot frees up.`
            : "."
        }`
      )
      break
    case "provisioning":
      lines.push(
        `⏳ Starting a machine for ${agentLabel(task)}${task.machineId ? ` (\`${task.machineId}\`)` : ""}…`
      )
      break
    case "running":
      lines.push(
        task.stopState !== undefined
          ? `⏹ Stopping ${agentLabel(task)}${task.reason ? `: ${task.reason}` : ""}. Its machine is handing over the ` +
            "work so far (a draft pull request, if there is any)."
          : `🏃 ${agentLabel(task)} is working on machine \`${task.machineId ?? "?"}\` — running for ${elapsed}.`
      )
      break
    case "succeeded":
      if (task.mode === "ask") {
        lines.push(`💬 ${agentLabel(task)} answered in ${elapsed}:`)
        lines.push("", task.summary ? neutralise(truncate(task.summary, 20_000)) : "_The agent gave no answer._")
        break
      }
      if (task.outcome === "no_changes") {
        lines.push(
          `✅ ${agentLabel(task)} finished in ${elapsed} without changing anything, so there is no pull request.`
        )
      } else {
        lines.push(`✅ ${agentLabel(task)} finished in ${elapsed}.`)
        if (task.prUrl) lines.push("", `**Pull request:** ${task.prUrl}`)
        else if (task.branch) lines.push("", `**Branch:** \`${task.branch}\``)
      }
      if (task.summary) lines.push("", quote(neutralise(truncate(task.summary, 3000))))
      break
    case "failed":
      lines.push(`❌ ${agentLabel(task)} failed${task.reason ? `: ${task.reason}` : "."}`)
      if (task.logTail) {
        const tail = task.logTail.split("\n").slice(-LOG_LINES).join("\n")
        lines.push("", "<details><summary>Last lines of output</summary>", "", codeBlock(tail), "", "</details>")
      }
      break
    case "timed_out":
      lines.push(`⏱ ${agentLabel(task)} timed out after ${elapsed}${task.reason ? `: ${task.reason}` : "."}`)
      break
    case "cancelled":
      lines.push(`⏹ Cancelled${task.reason ? `: ${task.reason}` : "."}`)
      break
  }
  if (task.isTerminal && task.state !== "succeeded" && task.prUrl !== undefined) {
    lines.push("", `**Work so far:** ${task.prUrl} (a draft pull request: \`@${mention} continue\` picks it up)`)
  }
  if (task.isTerminal && task.transcriptUrl !== undefined) lines.push("", `**Transcript:** ${task.transcriptUrl}`)
  if (task.continuesFrom !== undefined) lines.push("", continuation(task))
  if (task.mode === "fix_ci") {
    lines.push("", "<sub>🔧 A fix for this pull request's failing checks (`fix-ci`): the agent got their logs.</sub>")
  }
  if (task.isTerminal) {
    const usage = formatUsage(task.usage)
    if (usage) lines.push("", `<sub>Usage: ${usage}</sub>`)
  } else if (task.state === "running") {
    // The gateway's figures so far (refreshed while the agent works).
    const usage = formatUsage(task.usage, options.capUsd)
    if (usage) lines.push("", `<sub>Spent so far: ${usage}</sub>`)
  }
  if (task.notAnAgent !== undefined) {
    lines.push(
      "",
      `<sub>No agent is called \`${neutralise(task.notAnAgent)}\`: ${agentLabel(task)} ran, with it as part of the ` +
        "instructions.</sub>"
    )
  }
  if (task.approvedBy !== undefined && task.state !== "awaiting_approval") {
    lines.push("", `<sub>Requested by @${task.requestedBy.login}, approved by @${task.approvedBy}.</sub>`)
  }
  if (options.unmetered === true) {
    lines.push(
      "",
      `<sub>\`${task.agent}\` calls its own service with its own key, which is on the machine: Porter does not meter ` +
        "its usage or enforce budgets for it.</sub>"
    )
  }
  lines.push(
    "",
    `<sub>Task \`${task.id}\`${
      task.isTerminal ? "" : ` · \`@${mention} cancel\` to stop it`
    } · \`@${mention} status\`</sub>`,
    marker(task)
  )
  return lines.join("\n")
}

/** How a continuation (`@porter continue`) started: with the agent's session, or afresh. */
const continuation = (task: Task): string =>
  task.resumed === "session"
    ? `<sub>Continues task \`${task.continuesFrom}\`: ${agentLabel(task)} resumed its session.</sub>`
    : task.resumed === "summary"
    ? `<sub>Continues task \`${task.continuesFrom}\`: ${
      agentLabel(task)
    } started afresh with that task's summary and ` +
      "diff (its session could not be resumed).</sub>"
    : `<sub>Continues task \`${task.continuesFrom}\`.</sub>`

/** The answer to `continue` with no earlier task on the issue. */
export const nothingToContinue = (): string => reply("Nothing to continue: no earlier Porter task on this issue.")

const truncate = (text: string, max: number): string => (text.length > max ? `${text.slice(0, max)}…` : text)

const reply = (text: string): string => `${text}\n${MARKER_PREFIX}reply -->`

/** The answer to `@porter help`: the commands and agents of this repository. */
export const help = (settings: RepoSettings, agents: ReadonlyArray<AgentSpec>): string => {
  const m = `@${settings.mentionName}`
  return reply([
    `**Porter** runs a coding agent on this repository and opens a pull request.`,
    "",
    `- \`${m} <agent> [--model <id>] [--timeout <duration>] [--budget <usd>] <instructions>\` — run an agent ` +
    `(its model calls may cost up to ${formatBudget(settings.taskBudgetUsd)} unless \`--budget\` says otherwise)`,
    `- \`${m} <instructions>\` — run the default agent (\`${settings.defaultAgent}\`)`,
    `- \`${m} [<agent>] ask <question>\` — an answer here, read-only: no branch, no pull request`,
    `- \`${m} fix-ci [<instructions>]\` — on a pull request: make its failing checks pass (the agent gets their logs)`,
    `- \`${m} approve\` · \`${m} deny\` — let a waiting request from someone without write access run, or drop it`,
    `- \`${m} status\` — tasks on this issue · \`${m} cancel\` — stop them · \`${m} retry\` — run the last one again`,
    `- \`${m} continue [more instructions]\` — pick up where the last task stopped (its branch, its agent's session)`,
    `- \`${m} help\` — this message`,
    "",
    `Agents: ${agents.map((a) => `\`${a.name}\``).join(", ")}. Durations look like \`90s\`, \`20m\`, \`1h\` (at most ${
      formatDuration(settings.maxTimeoutMs)
    }).`
  ].join("\n"))
}

/** The answer to a command that cannot be run, with why. */
export const problem = (message: string): string => reply(`⚠️ ${message}`)

/** The answer to someone who may not use Porter here, with why. */
export const refused = (login: string, reason: string): string =>
  reply(
    `🔒 Sorry @${login}, Porter only runs for people with write access to this repository (${reason}). ` +
      `Ask a maintainer to run it for you.`
  )

/** The answer to a request over the repository's or the user's limit of active tasks. */
export const limitReached = (login: string, what: "repository" | "user", limit: number): string =>
  reply(
    what === "repository"
      ? `⏳ Sorry @${login}, this repository already has ${limit} active Porter tasks (the limit). Try again when one finishes.`
      : `⏳ Sorry @${login}, you already have ${limit} active Porter tasks (the limit). Try again when one finishes.`
  )

/** The answer to `@porter status`: the issue's tasks. */
export const statusList = (tasks: ReadonlyArray<Task>, now: number): string => {
  if (tasks.length === 0) return reply("No Porter tasks on this issue yet.")
  const rows = tasks.map((task) => {
    const age = formatDuration(now - task.createdAt)
    const link = task.prUrl ? ` · ${task.prUrl}` : ""
    return `| \`${task.id}\` | \`${task.agent}\` | ${task.state} | ${age} ago${link} |`
  })
  return reply(["| task | agent | state | created |", "|---|---|---|---|", ...rows].join("\n"))
}

/** The answer to `cancel` with no active task on the issue. */
export const nothingToCancel = (): string => reply("Nothing to cancel: no active Porter task on this issue.")
/** The answer to `retry` with no earlier task on the issue. */
export const nothingToRetry = (): string => reply("Nothing to retry: no earlier Porter task on this issue.")
/** The answer to `cancel`: how many tasks were cancelled. */
export const cancelled = (count: number): string => reply(`⏹ Cancelled ${count} task${count === 1 ? "" : "s"}.`)

/** The status of an outsider's request that waits for approval: who asked for what, who may let it run. */
const awaitingApproval = (task: Task, mention: string): ReadonlyArray<string> => [
  `🔒 Waiting for approval: @${task.requestedBy.login} (without write access) asked ${agentLabel(task)} to ${
    task.mode === "ask" ? "answer" : "work on"
  } this:`,
  "",
  codeBlock(neutralise(truncate(task.instructions, 2_000))),
  "",
  `Someone with write access to this repository can answer \`@${mention} approve\` to run it, or \`@${mention} deny\`` +
  ` to drop it. Without an answer it is cancelled ${
    formatDuration(task.deadlineAt - task.createdAt)
  } after it was asked.`
]

/** The answer to `approve` or `deny` with nothing awaiting approval. */
export const nothingAwaitingApproval = (): string =>
  reply("Nothing to approve or deny: no request is waiting for approval on this issue.")

/** The answer to `approve` or `deny`: how many requests it applied to. */
export const approvalsDone = (verb: "approved" | "denied", count: number): string =>
  reply(`${verb === "approved" ? "✅ Approved" : "⏹ Denied"} ${count} request${count === 1 ? "" : "s"}.`)

/** `.github/porter.yml` (or what it asks for) stops a request: nothing runs. */
export const repoConfigProblem = (message: string): string => reply(`⚠️ ${message} Nothing was started.`)

/** What the CI feedback comment says about automatic fixes (`autofixCi`). */
export type AutofixNote =
  | { readonly _tag: "Started"; readonly slot: number; readonly limit: number }
  | { readonly _tag: "UsedUp"; readonly limit: number }
  | { readonly _tag: "Refused"; readonly reason: string }
  | { readonly _tag: "AlreadyStarted" }

const fixes = (n: number): string => `${n} automatic fix${n === 1 ? "" : "es"}`

/** Failed checks on a Porter pull request: which, and what to do (`CiFeedback`). */
export const ciFailed = (input: {
  readonly event: {
    readonly source: string
    readonly name: string
    readonly conclusion: string
    readonly headSha: string
    readonly checkSuiteId: number
  }
  readonly failing: ReadonlyArray<
    { readonly name: string; readonly conclusion: string | undefined; readonly url: string }
  >
  readonly mention: string
  readonly automatic: AutofixNote | undefined
}): string => {
  const { automatic, event, failing, mention } = input
  const cell = (text: string) => truncate(neutralise(text).replace(/\|/g, "\\|").replace(/[\r\n]+/g, " "), 100)
  const lines = [
    `❌ **CI failed** on this pull request: \`${cell(event.name)}\` ended \`${event.conclusion}\` on ` +
    `${event.headSha.slice(0, 7)}.`,
    ""
  ]
  if (failing.length > 0) {
    lines.push("| check | conclusion |", "|---|---|")
    for (const check of failing) lines.push(`| [${cell(check.name)}](${check.url}) | \`${check.conclusion ?? "?"}\` |`)
    lines.push("")
  }
  if (automatic?._tag === "Started") {
    lines.push(
      `🔧 Porter is starting a fix by itself, with the failing logs (automatic fix ${automatic.slot} of ` +
        `${automatic.limit} for this pull request: the repository's \`autofixCi\`). Its status follows.`
    )
  } else {
    if (automatic?._tag === "UsedUp") {
      lines.push(
        `Porter made its ${fixes(automatic.limit)} for this pull request (the repository's \`autofixCi\`): ` +
          "no more start by themselves.",
        ""
      )
    } else if (automatic?._tag === "Refused") {
      lines.push(`No automatic fix. ${automatic.reason}`, "")
    } else if (automatic?._tag === "AlreadyStarted") {
      lines.push(
        "An earlier failure on this commit already had its turn at an automatic fix (the repository's `autofixCi`: a " +
          "fix gets every check failing on the commit): nothing more starts by itself for it.",
        ""
      )
    }
    lines.push(
      `Reply \`@${mention} fix-ci\` (with more instructions if you like) and an agent will work on this branch, ` +
        "with the failing checks' logs in its prompt."
    )
  }
  lines.push(`${MARKER_PREFIX}ci ${JSON.stringify({ checkSuite: event.checkSuiteId, source: event.source })} -->`)
  return lines.join("\n")
}

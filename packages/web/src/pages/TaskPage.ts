/**
 * One task: its facts, whose keys ran it, usage and cost, its pull request, the state timeline from the audit trail,
 * the log tail (scrubbed by the runner) and, for writers, cancel or retry. The live part (`live`) is what the page's
 * script replaces while the task is active, rendered by the same function for the page and for `/live`.
 */
import type { Task, TaskStore } from "@porter/core"
import { type Html, html } from "../Html.ts"
import { count, csrfField, duration, type Frame, notice, page, state, time, usd } from "./Layout.ts"

export interface TaskPageInput {
  readonly frame: Frame
  readonly viewerId: number
  readonly task: Task.Task
  readonly events: ReadonlyArray<TaskStore.TaskEvent>
  readonly canSteer: boolean
  readonly now: number
  readonly githubWebUrl: string
  readonly message?: string | undefined
}

/** What changes while a task runs: a new version makes the script fetch the live part again. */
export const versionOf = (task: Task.Task, events: ReadonlyArray<TaskStore.TaskEvent>): string =>
  `${task.updatedAt}.${events.length}`

/** `ANTHROPIC_API_KEY from user:42; FLY_API_TOKEN from global` (the `secrets` audit line) → pairs. */
export const keysUsed = (
  events: ReadonlyArray<TaskStore.TaskEvent>
): ReadonlyArray<{ readonly name: string; readonly scope: string }> => {
  const line = [...events].reverse().find((event) => event.kind === "secrets")?.detail ?? ""
  return line.split(";").flatMap((part) => {
    const match = /^\s*([A-Z_][A-Z0-9_]*) from (\S+)\s*$/.exec(part)
    return match === null ? [] : [{ name: match[1]!, scope: match[2]! }]
  })
}

const scopeLabel = (scope: string, viewerId: number, requesterId: number): string => {
  if (scope === `user:${viewerId}`) return "your key"
  if (scope === `user:${requesterId}`) return "the requester's own key"
  if (scope.startsWith("user:")) return "a user's key"
  if (scope.startsWith("repository:")) return "the repository's key"
  if (scope.startsWith("installation:")) return "the installation's key"
  return "the deployment's key"
}

const fact = (label: string, value: Html | string | undefined) =>
  value === undefined || value === "" ? "" : html`<dt>${label}</dt><dd>${value}</dd>`

interface Line {
  readonly event: TaskStore.TaskEvent
  readonly times: number
}

/** The audit trail, with runs of the same line (heartbeats) folded into one. */
const timeline = (events: ReadonlyArray<TaskStore.TaskEvent>): ReadonlyArray<Line> => {
  const lines: Array<Line> = []
  for (const event of events) {
    const last = lines.at(-1)
    if (last !== undefined && last.event.kind === event.kind && last.event.detail === event.detail && !event.to) {
      lines[lines.length - 1] = { event: last.event, times: last.times + 1 }
    } else lines.push({ event, times: 1 })
  }
  return lines
}

const usage = (value: Task.Usage) => {
  const tokens = [
    value.inputTokens !== undefined && `${count(value.inputTokens)} input`,
    value.outputTokens !== undefined && `${count(value.outputTokens)} output`,
    value.cacheReadTokens !== undefined && `${count(value.cacheReadTokens)} cache read`,
    value.cacheWriteTokens !== undefined && `${count(value.cacheWriteTokens)} cache write`
  ].filter((part): part is string => typeof part === "string")
  return html`<h2>Usage</h2><dl class="facts">
${fact("Tokens", tokens.length > 0 ? tokens.join(", ") : undefined)}
${fact("Cost", value.costUsd !== undefined ? usd(value.costUsd) : undefined)}
${fact("Turns", value.turns !== undefined ? count(value.turns) : undefined)}
${fact("Agent time", value.durationMs !== undefined ? duration(value.durationMs) : undefined)}
</dl>`
}

/** The live part of the page. */
export const live = (input: TaskPageInput): Html => {
  const { events, task } = input
  const keys = keysUsed(events)
  const end = task.finishedAt ?? (task.isTerminal ? task.updatedAt : input.now)
  const start = task.startedAt ?? task.createdAt
  return html`<p role="status">State: ${state(task.state)}${
    !task.isTerminal && html` <span class="muted">(updates by itself)</span>`
  }</p>
<dl class="facts">
${fact("Agent", task.agent)}
${fact("Model", task.model)}
${fact("Requested by", `@${task.requestedBy.login}`)}
${fact("Created", time(task.createdAt))}
${fact("Started", task.startedAt !== undefined ? time(task.startedAt) : undefined)}
${fact("Finished", task.finishedAt !== undefined ? time(task.finishedAt) : undefined)}
${fact(task.isTerminal ? "Took" : "Running for", duration(end - start))}
${fact("Deadline", !task.isTerminal ? time(task.deadlineAt) : undefined)}
${fact("Pull request", task.prUrl !== undefined ? html`<a href="${task.prUrl}">${task.prUrl}</a>` : undefined)}
${fact("Branch", task.branch !== undefined ? html`<code>${task.branch}</code>` : undefined)}
${
    fact(
      "Continues",
      task.continuesFrom !== undefined ?
        html`<a href="/app/tasks/${task.continuesFrom}">${task.continuesFrom}</a>${
          task.resumed === "session"
            ? " (its session resumed)"
            : task.resumed === "summary"
            ? " (afresh, with its summary)"
            : ""
        }` :
        undefined
    )
  }
${
    fact(
      "Transcript",
      task.isTerminal ? html`<a href="/app/tasks/${task.id}/transcript">the run's transcript</a>` : undefined
    )
  }
${fact("Outcome", task.outcome?.replace("_", " "))}
${fact("Reason", task.reason)}
${fact("Summary", task.summary)}
</dl>
${
    input.canSteer && html`<div class="actions">
${
      !task.isTerminal &&
      html`<form method="post" action="/app/tasks/${task.id}/cancel">${
        csrfField(input.frame.csrf)
      }<button type="submit" class="danger">Cancel task</button></form>`
    }
${
      task.isTerminal &&
      html`<form method="post" action="/app/tasks/${task.id}/retry">${
        csrfField(input.frame.csrf)
      }<button type="submit">Retry task</button></form>`
    }
</div>`
  }
${
    keys.length > 0 && html`<h2>Keys</h2><table><caption>Whose keys this run used (values are never shown)</caption>
<thead><tr><th scope="col">Name</th><th scope="col">From</th></tr></thead><tbody>${
      keys.map((key) =>
        html`<tr><td><code>${key.name}</code></td><td>${
          scopeLabel(key.scope, input.viewerId, task.requestedBy.id)
        } <span class="muted">(${key.scope})</span></td></tr>`
      )
    }</tbody></table>`
  }
${task.usage !== undefined && usage(task.usage)}
<h2>Timeline</h2>
<table><caption>The task's audit trail, oldest first</caption>
<thead><tr><th scope="col">Time</th><th scope="col">What</th><th scope="col">Detail</th></tr></thead>
<tbody>${
    timeline(events).map(({ event, times }) =>
      html`<tr><td>${time(event.at)}</td><td>${
        event.kind === "transition"
          ? html`${event.from !== undefined ? `${event.from.replace("_", " ")} → ` : ""}${
            event.to?.replace("_", " ") ?? ""
          }`
          : event.kind
      }${times > 1 ? ` ×${times}` : ""}</td><td>${event.detail ?? ""}</td></tr>`
    )
  }</tbody></table>
${
    task.logTail !== undefined && task.logTail.length > 0 &&
    html`<h2>Log tail</h2><pre class="log" tabindex="0" aria-label="The last lines of the run's output">${task.logTail}</pre>`
  }`
}

export const render = (input: TaskPageInput): string => {
  const { events, task } = input
  const issueUrl = `${input.githubWebUrl}/${task.repo.fullName}/issues/${task.issueNumber}`
  const body = html`<h1>Task ${task.id.slice(-8)}</h1>
<p><a href="${issueUrl}">${task.repo.fullName}#${task.issueNumber}</a> · <span class="muted">${task.id}</span></p>
${input.message !== undefined && notice(input.message)}
<section aria-label="Task status" data-live="/app/tasks/${task.id}/live" data-version="${
    versionOf(task, events)
  }" data-active="${task.isTerminal ? "false" : "true"}">
${live(input)}
</section>
<p><a href="/app/tasks?repo=${encodeURIComponent(task.repo.fullName)}">All tasks of ${task.repo.fullName}</a></p>`
  return page({ title: `Task ${task.id.slice(-8)}`, frame: input.frame, section: "tasks", body, live: true })
}

/** The timeline lines as text (tests). */
export const timelineText = (events: ReadonlyArray<TaskStore.TaskEvent>): ReadonlyArray<string> =>
  timeline(events).map(({ event, times }) => `${event.kind}${times > 1 ? ` ×${times}` : ""}`)

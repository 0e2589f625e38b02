/** The task list: filters (repository, state, requester, agent), newest first, a page at a time. */
import { Task } from "@porter/core"
import { html, join } from "../Html.ts"
import type { ListPage } from "../TaskListing.ts"
import { type Frame, notice, page, state, time } from "./Layout.ts"

export interface Filters {
  readonly repo?: string | undefined
  readonly state?: Task.TaskState | undefined
  readonly user?: string | undefined
  readonly agent?: string | undefined
}

/** The list's URL for `filters` (and a page cursor). */
export const tasksUrl = (filters: Filters, before?: string): string => {
  const query = new URLSearchParams()
  if (filters.repo !== undefined) query.set("repo", filters.repo)
  if (filters.state !== undefined) query.set("state", filters.state)
  if (filters.user !== undefined) query.set("user", filters.user)
  if (filters.agent !== undefined) query.set("agent", filters.agent)
  if (before !== undefined) query.set("before", before)
  const text = query.toString()
  return text.length > 0 ? `/app/tasks?${text}` : "/app/tasks"
}

const option = (value: string, label: string, selected: boolean) =>
  html`<option value="${value}"${selected ? html` selected` : ""}>${label}</option>`

export const render = (options: {
  readonly frame: Frame
  readonly repos: ReadonlyArray<string>
  readonly filters: Filters
  readonly result: ListPage
  readonly paged: boolean
  readonly message?: string | undefined
}): string => {
  const { filters, result } = options
  const rows = result.tasks.map((task) =>
    html`<tr>
<td><a href="/app/tasks/${task.id}">${task.id.slice(-8)}</a></td>
<td>${task.repo.fullName}#${task.issueNumber}</td>
<td>${state(task.state)}</td>
<td>${task.agent}</td>
<td>@${task.requestedBy.login}</td>
<td>${time(task.createdAt)}</td>
<td>${
      task.prUrl !== undefined ? html`<a href="${task.prUrl}">pull request</a>` : html`<span class="muted">—</span>`
    }</td>
</tr>`
  )
  const body = html`<h1>Tasks</h1>
${options.message !== undefined && notice(options.message)}
<form class="filters" method="get" action="/app/tasks" role="search" aria-label="Filter tasks">
<div><label for="f-repo">Repository</label><select id="f-repo" name="repo">
${option("", "All repositories", filters.repo === undefined)}
${options.repos.map((repo) => option(repo, repo, filters.repo?.toLowerCase() === repo.toLowerCase()))}
</select></div>
<div><label for="f-state">State</label><select id="f-state" name="state">
${option("", "Any state", filters.state === undefined)}
${Task.TaskState.literals.map((s) => option(s, s.replace("_", " "), filters.state === s))}
</select></div>
<div><label for="f-user">Requested by</label><input id="f-user" name="user" value="${
    filters.user ?? ""
  }" placeholder="login"></div>
<div><label for="f-agent">Agent</label><input id="f-agent" name="agent" value="${
    filters.agent ?? ""
  }" placeholder="claude"></div>
<div><button type="submit">Apply</button></div>
</form>
${
    options.repos.length === 0
      ? html`<p>You cannot see any repository where Porter is installed yet.</p>`
      : result.tasks.length === 0
      ? html`<p>No tasks match.</p>`
      : html`<table><caption>Newest first${options.paged ? " (older page)" : ""}</caption>
<thead><tr><th scope="col">Task</th><th scope="col">Issue</th><th scope="col">State</th><th scope="col">Agent</th>
<th scope="col">Requested by</th><th scope="col">Created</th><th scope="col">Result</th></tr></thead>
<tbody>${join(rows)}</tbody></table>`
  }
<nav class="pages" aria-label="Pages">
${options.paged && html`<a href="${tasksUrl(filters)}">Newest tasks</a>`}
${result.next !== undefined && html`<a href="${tasksUrl(filters, result.next)}">Older tasks</a>`}
</nav>`
  return page({ title: "Tasks", frame: options.frame, section: "tasks", body })
}

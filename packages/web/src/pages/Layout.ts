/**
 * The page frame (header with the navigation and the sign-out form, main landmark, footer) and the small pieces
 * every page uses: times, durations, costs, a task's state, notices, the CSRF field and the error pages.
 */
import type { Task } from "@porter/core"
import * as Assets from "../Assets.ts"
import { type Html, html, type Part, toString } from "../Html.ts"

/** Who is signed in, as the frame shows them. */
export interface Frame {
  readonly login: string
  readonly operator: boolean
  readonly csrf: string
}

export type Section = "tasks" | "keys" | "tokens" | "installations" | "operator" | "none"

export interface PageOptions {
  readonly title: string
  readonly frame?: Frame | undefined
  readonly section?: Section | undefined
  readonly body: Html
  /** Adds the live-updates script. */
  readonly live?: boolean | undefined
}

const navItem = (href: string, label: string, active: boolean) =>
  html`<li><a href="${href}"${active ? html` aria-current="page"` : ""}>${label}</a></li>`

/** The hidden field every state-changing form carries. */
export const csrfField = (csrf: string) => html`<input type="hidden" name="_csrf" value="${csrf}">`

/** A whole page. */
export const page = (options: PageOptions): string => {
  const frame = options.frame
  const section = options.section ?? "none"
  return "<!doctype html>" + toString(html`<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${options.title} · Porter</title>
<link rel="stylesheet" href="/app/assets/app-${Assets.VERSION}.css">
${options.live === true && html`<script src="/app/assets/live-${Assets.VERSION}.js" defer></script>`}
</head><body>
<a class="skip" href="#main">Skip to content</a>
<header class="top"><nav aria-label="Main">
<a class="brand" href="/app">Porter</a>
${
    frame !== undefined && html`<ul>
${navItem("/app/tasks", "Tasks", section === "tasks")}
${navItem("/app/keys", "My keys", section === "keys")}
${navItem("/app/tokens", "My tokens", section === "tokens")}
${navItem("/app/installations", "Installations", section === "installations")}
${frame.operator && navItem("/app/operator", "Operator", section === "operator")}
</ul>
<form method="post" action="/logout"><span>@${frame.login}</span>${
      csrfField(frame.csrf)
    }<button type="submit">Sign out</button></form>`
  }
</nav></header>
<main id="main">
${options.body}
</main>
<footer>Porter — coding agents on GitHub issues.</footer>
</body></html>`)
}

/** A notice above the page's content. */
export const notice = (text: Part, tone: "info" | "bad" = "info") =>
  html`<p class="flash${tone === "bad" ? " bad" : ""}" role="status">${text}</p>`

const pad = (n: number) => String(n).padStart(2, "0")

/** `2026-11-23 10:15 UTC`, in a `<time>` element. */
export const time = (ms: number | undefined) => {
  if (ms === undefined) return html`<span class="muted">—</span>`
  const d = new Date(ms)
  const text = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${
    pad(d.getUTCMinutes())
  }:${pad(d.getUTCSeconds())} UTC`
  return html`<time datetime="${d.toISOString()}">${text}</time>`
}

/** `1 h 02 min`, `3 min 05 s`, `42 s`. */
export const duration = (ms: number): string => {
  const s = Math.max(0, Math.round(ms / 1000))
  if (s < 60) return `${s} s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m} min ${pad(s % 60)} s`
  return `${Math.floor(m / 60)} h ${pad(m % 60)} min`
}

export const usd = (value: number): string => `$${value > 0 && value < 1 ? value.toFixed(4) : value.toFixed(2)}`

export const count = (value: number): string => Math.round(value).toLocaleString("en-US")

const STATE_MARK: Record<Task.TaskState, string> = {
  awaiting_approval: "🔒",
  queued: "⏳",
  provisioning: "⏳",
  running: "▶",
  succeeded: "✓",
  failed: "✗",
  timed_out: "⌛",
  cancelled: "■"
}

/** A task's state, with a mark and a color (the word carries the meaning). */
export const state = (value: Task.TaskState) =>
  html`<span class="state state-${value}"><span aria-hidden="true">${STATE_MARK[value]}</span> ${
    value.replace("_", " ")
  }</span>`

/** The 404 page: the same for what does not exist and what the user may not see. */
export const notFound = (frame: Frame | undefined) =>
  page({
    title: "Not found",
    frame,
    body:
      html`<h1>Not found</h1><p>There is nothing here, or you may not see it.</p><p><a href="/app">Back to the tasks</a></p>`
  })

/** A refused request (a form without its CSRF token, from another site). */
export const refused = (frame: Frame | undefined, why: string) =>
  page({
    title: "Refused",
    frame,
    body: html`<h1>Refused</h1><p>${why}</p><p><a href="/app">Back to the tasks</a></p>`
  })

/** Something Porter depends on did not answer. */
export const unavailable = (frame: Frame | undefined, what: string) =>
  page({
    title: "Unavailable",
    frame,
    body: html`<h1>Temporarily unavailable</h1><p>${what}</p><p>Try again in a moment.</p>`
  })

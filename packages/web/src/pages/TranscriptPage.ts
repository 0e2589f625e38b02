/**
 * A task's transcript: what its agent said and did (the scrubbed Markdown Porter keeps, `ArtifactStore`), shown as
 * text — never rendered as HTML, so nothing the agent wrote can run or link anywhere — with a link back to the task.
 */
import type { ArtifactStore, Task } from "@porter/core"
import { html } from "../Html.ts"
import { type Frame, page } from "./Layout.ts"

export interface TranscriptPageInput {
  readonly frame: Frame
  readonly task: Task.Task
  /** The kept transcript, if the retention period still keeps it. */
  readonly transcript: ArtifactStore.Artifact | undefined
}

export const render = (input: TranscriptPageInput): string =>
  page({
    title: `Transcript of ${input.task.id}`,
    frame: input.frame,
    section: "tasks",
    body: html`<h1>Transcript</h1>
<p><a href="/app/tasks/${input.task.id}">Task <code>${input.task.id}</code></a> · <code>${input.task.agent}</code> on
${input.task.repo.fullName}#${input.task.issueNumber}</p>
${
      input.transcript === undefined
        ? html`<p>No transcript is kept for this task (it handed none over, or the retention period has passed).</p>`
        : html`<p>Secrets Porter knows of were redacted before it was kept.</p>
<pre class="transcript">${input.transcript.content}</pre>`
    }`
  })

/**
 * The installations the user can see: per installation, its repositories (with the user's role and a link to the
 * settings for admins), the tasks active now, the machines alive (active tasks that have one) and the spend this month
 * (the cost the agents reported for tasks created since the first of the month, UTC).
 */
import { html } from "../Html.ts"
import { type Frame, page, usd } from "./Layout.ts"

export interface RepoLine {
  readonly fullName: string
  readonly permission: string
  readonly canConfigure: boolean
  readonly active: number
  readonly machines: number
  readonly spendUsd: number
  /** Tasks created this month. */
  readonly tasks: number
}

export interface InstallationLine {
  readonly id: number
  readonly account: string
  readonly repos: ReadonlyArray<RepoLine>
}

export const render = (options: {
  readonly frame: Frame
  readonly installations: ReadonlyArray<InstallationLine>
  readonly month: string
}): string => {
  const body = html`<h1>Installations</h1>
${
    options.installations.length === 0
      ? html`<p>Porter is installed on no repository you can see.</p>`
      : options.installations.map((installation) => {
        const total = (pick: (repo: RepoLine) => number) =>
          installation.repos.reduce((sum, repo) => sum + pick(repo), 0)
        return html`<section aria-labelledby="inst-${installation.id}">
<h2 id="inst-${installation.id}">${installation.account} <span class="muted">(installation ${installation.id})</span></h2>
<p>${total((r) => r.active)} active tasks · ${total((r) => r.machines)} machines alive · ${
          usd(total((r) => r.spendUsd))
        } spent in ${options.month}</p>
<table><caption>Repositories of ${installation.account} you can see</caption>
<thead><tr><th scope="col">Repository</th><th scope="col">Your role</th><th scope="col">Active tasks</th>
<th scope="col">Machines alive</th><th scope="col">Tasks in ${options.month}</th><th scope="col">Spend in ${options.month}</th>
<th scope="col">Settings</th></tr></thead>
<tbody>${
          installation.repos.map((repo) =>
            html`<tr><td><a href="/app/tasks?repo=${encodeURIComponent(repo.fullName)}">${repo.fullName}</a></td>
<td>${repo.permission}</td><td>${repo.active}</td><td>${repo.machines}</td><td>${repo.tasks}</td><td>${
              usd(repo.spendUsd)
            }</td>
<td>${
              repo.canConfigure
                ? html`<a href="/app/repos/${repo.fullName}/settings">Settings<span class="vh"> of ${repo.fullName}</span></a>`
                : html`<span class="muted">admins only</span>`
            }</td></tr>`
          )
        }</tbody></table></section>`
      })
  }`
  return page({ title: "Installations", frame: options.frame, section: "installations", body })
}

/**
 * A repository's settings, for its admins: one field per key of core's `Settings.SettingsPatch` (the form is derived
 * from it: a new setting shows up here by itself), each left blank to inherit the installation's, the deployment's or
 * the built-in value (shown beside it). What the form sends is decoded with the same `SettingsPatch` schema the admin
 * API uses, so the rules (patterns, limits) are core's, not a copy.
 */
import { Settings } from "@porter/core"
import { Effect, Schema } from "effect"
import { html, type Part } from "../Html.ts"
import { csrfField, type Frame, notice, page } from "./Layout.ts"

type Key = keyof Settings.SettingsPatch
type Kind = "text" | "number" | "minutes" | "boolean" | "list"

/** The settings the form shows, in the schema's order. */
export const keys = Object.keys(Settings.SettingsPatch.fields) as ReadonlyArray<Key>

/** How a setting is edited, from its default value's type (durations in minutes). */
export const kindOf = (key: Key): Kind => {
  const value: unknown = Settings.defaults[key as keyof Settings.RepoSettings]
  if (Array.isArray(value)) return "list"
  if (typeof value === "boolean") return "boolean"
  if (typeof value === "number") return key.endsWith("Ms") ? "minutes" : "number"
  return "text"
}

const LABELS: Partial<Record<Key, readonly [string, string]>> = {
  mentionName: ["Mention name", "the name after @ that calls Porter"],
  defaultAgent: ["Default agent", "for a request that names none"],
  allowedUsers: ["Allowed users", "one login per line; empty: every writer may ask"],
  deniedUsers: ["Denied users", "one login per line; never run for them"],
  maxActivePerRepo: ["Active tasks per repository", "at most this many at once"],
  maxActivePerUser: ["Active tasks per user", "at most this many at once per requester"],
  defaultTimeoutMs: ["Default timeout", "minutes"],
  maxTimeoutMs: ["Longest timeout", "minutes; a request may ask for up to this"],
  stateLabels: ["State labels", "keep porter:<state> labels on issues"],
  allowWorkflowChanges: ["Allow workflow changes", "may agents change .github/workflows?"],
  autofixCi: ["Automatic CI fixes", "fix tasks Porter starts by itself per pull request when its checks fail (0-10)"]
}

const labelOf = (key: Key): readonly [string, string] =>
  LABELS[key] ?? [key.replace(/([A-Z])/g, " $1").replace(/^./, (c) => c.toUpperCase()), ""]

const shown = (kind: Kind, value: unknown): string =>
  value === undefined
    ? ""
    : kind === "list"
    ? (value as ReadonlyArray<string>).join("\n")
    : kind === "minutes"
    ? String((value as number) / 60_000)
    : String(value)

/** The form's fields as a `SettingsPatch` (blank: not set here), decoded with core's schema. */
export const decodeForm = (
  form: Readonly<Record<string, string | undefined>>
): Effect.Effect<Settings.SettingsPatch, string> => {
  const patch: Record<string, unknown> = {}
  for (const key of keys) {
    const raw = (form[key] ?? "").trim()
    if (raw === "" || raw === "inherit") continue
    switch (kindOf(key)) {
      case "list":
        patch[key] = raw.split(/[\s,]+/).map((login) => login.replace(/^@/, "")).filter(Boolean)
        break
      case "boolean":
        patch[key] = raw === "true"
        break
      case "number":
        patch[key] = Number(raw)
        break
      case "minutes":
        patch[key] = Math.round(Number(raw) * 60_000)
        break
      default:
        patch[key] = raw
    }
  }
  return Schema.decodeUnknownEffect(Settings.SettingsPatch)(patch).pipe(
    Effect.mapError((error) => error.message.split("\n").slice(0, 6).join(" "))
  )
}

const field = (
  key: Key,
  stored: Settings.SettingsPatch,
  effective: Settings.RepoSettings
) => {
  const kind = kindOf(key)
  const [label, hint] = labelOf(key)
  const id = `s-${key}`
  const value = shown(kind, stored[key])
  const inherited = shown(kind, effective[key as keyof Settings.RepoSettings])
  const inheritedText = `in effect when blank: ${inherited === "" ? "(none)" : inherited.replaceAll("\n", ", ")}`
  const input: Part = kind === "boolean"
    ? html`<select id="${id}" name="${key}">
<option value="inherit"${stored[key] === undefined ? html` selected` : ""}>Inherit (${inherited})</option>
<option value="true"${stored[key] === true ? html` selected` : ""}>Yes</option>
<option value="false"${stored[key] === false ? html` selected` : ""}>No</option></select>`
    : kind === "list"
    ? html`<textarea id="${id}" name="${key}" rows="3" aria-describedby="${id}-hint">${value}</textarea>`
    : html`<input id="${id}" name="${key}" value="${value}" placeholder="${inherited}"${
      kind === "text" ? "" : html` inputmode="decimal"`
    }${key === "defaultAgent" ? html` list="agents"` : ""} aria-describedby="${id}-hint">`
  return html`<div><label for="${id}">${label}${hint !== "" && html` <span class="hint">(${hint})</span>`}</label>
${input}<span class="hint" id="${id}-hint">${inheritedText}</span></div>`
}

export const render = (options: {
  readonly frame: Frame
  readonly repo: string
  readonly stored: Settings.SettingsPatch
  readonly effective: Settings.RepoSettings
  readonly agents: ReadonlyArray<string>
  readonly message?: string | undefined
  readonly problem?: string | undefined
}): string => {
  const body = html`<h1>Settings of ${options.repo}</h1>
<p>Blank fields inherit the installation's, the deployment's or Porter's default value.</p>
${options.message !== undefined && notice(options.message)}
${options.problem !== undefined && notice(options.problem, "bad")}
<form class="stack" method="post" action="/app/repos/${options.repo}/settings">
${csrfField(options.frame.csrf)}
${keys.map((key) => field(key, options.stored, options.effective))}
<datalist id="agents">${options.agents.map((name) => html`<option value="${name}"></option>`)}</datalist>
<div><button type="submit" class="primary">Save settings</button></div>
</form>`
  return page({ title: `Settings of ${options.repo}`, frame: options.frame, section: "installations", body })
}

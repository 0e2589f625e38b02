/**
 * My keys: the user's own secrets (scope `user:<GitHub id>`), used for the tasks they request before the repository's,
 * the installation's and the deployment's. Set, replace, delete; a value is never shown back — only its fingerprint
 * (the first 8 hex digits of its SHA-256) and when it was last set.
 */
import { html } from "../Html.ts"
import { csrfField, type Frame, notice, page, time } from "./Layout.ts"

export interface KeyRow {
  readonly name: string
  /** First 8 hex digits of the value's SHA-256; `undefined` when the value cannot be read (an old key). */
  readonly fingerprint: string | undefined
  readonly updatedAt: number
}

export const render = (options: {
  readonly frame: Frame
  readonly keys: ReadonlyArray<KeyRow>
  /** Names the agents and the machines read, offered when typing a name. */
  readonly suggestions: ReadonlyArray<string>
  readonly message?: string | undefined
  readonly problem?: string | undefined
}): string => {
  const body = html`<h1>My keys</h1>
<p>Keys you bring for the tasks you request: they are encrypted at rest, passed to your runs, and never shown again.
A key of yours wins over the repository's, the installation's and the deployment's key of the same name.</p>
${options.message !== undefined && notice(options.message)}
${options.problem !== undefined && notice(options.problem, "bad")}
${
    options.keys.length === 0
      ? html`<p>You have no keys yet.</p>`
      : html`<table><caption>Your keys</caption>
<thead><tr><th scope="col">Name</th><th scope="col">Fingerprint</th><th scope="col">Last set</th><th scope="col">Actions</th></tr></thead>
<tbody>${
        options.keys.map((key) =>
          html`<tr><td><code>${key.name}</code></td><td>${
            key.fingerprint !== undefined
              ? html`<code>${key.fingerprint}</code>`
              : html`<span class="muted">unreadable: set it again</span>`
          }</td><td>${time(key.updatedAt)}</td><td><form method="post" action="/app/keys/delete">${
            csrfField(options.frame.csrf)
          }<input type="hidden" name="name" value="${key.name}"><button type="submit" class="danger" aria-label="Delete ${key.name}">Delete</button></form></td></tr>`
        )
      }</tbody></table>`
  }
<h2>Set a key</h2>
<form class="stack" method="post" action="/app/keys" autocomplete="off">
${csrfField(options.frame.csrf)}
<div><label for="key-name">Name <span class="hint">(capitals, digits and _; an existing key is replaced)</span></label>
<input id="key-name" name="name" required pattern="[A-Z_][A-Z0-9_]{0,63}" list="key-names" spellcheck="false"></div>
<datalist id="key-names">${options.suggestions.map((name) => html`<option value="${name}"></option>`)}</datalist>
<div><label for="key-value">Value</label>
<input id="key-value" name="value" type="password" required maxlength="16384" autocomplete="new-password"></div>
<div><button type="submit" class="primary">Save key</button></div>
</form>`
  return page({ title: "My keys", frame: options.frame, section: "keys", body })
}

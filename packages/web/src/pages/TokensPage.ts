/**
 * My tokens: personal Porter tokens for MCP clients (`/app/tokens`). A new token is shown once, on the page that
 * answers the form (never in a URL), with the line that connects Claude Code; afterwards only its name, id and dates.
 */
import { html } from "../Html.ts"
import type { StoredToken } from "../TokenStore.ts"
import { csrfField, type Frame, notice, page, time } from "./Layout.ts"

export interface TokensPageInput {
  readonly frame: Frame
  readonly tokens: ReadonlyArray<StoredToken>
  readonly now: number
  /** Where MCP clients connect (`<public URL>/mcp`). */
  readonly mcpUrl: string
  /** A token just made: shown this once. */
  readonly created?: { readonly name: string; readonly token: string } | undefined
  readonly message?: string | undefined
  readonly problem?: string | undefined
}

export const render = (input: TokensPageInput): string => {
  const created = input.created
  const body = html`<h1>My tokens</h1>
<p>A personal token lets an MCP client (Claude Code, an editor) use Porter as you: list, start, watch, cancel and retry
tasks of the repositories you can use on GitHub, and nothing more. Porter checks your GitHub permissions on every call.
Treat a token like a password.</p>
${input.message !== undefined && notice(input.message)}
${input.problem !== undefined && notice(input.problem, "bad")}
${
    created !== undefined && html`<section class="flash" aria-labelledby="new-token">
<h2 id="new-token">Your new token “${created.name}”</h2>
<p>Copy it now: Porter keeps only a hash of it and will not show it again.</p>
<p><code id="token-value">${created.token}</code></p>
<p>Connect Claude Code:</p>
<pre><code>claude mcp add --transport http porter ${input.mcpUrl} \\
  --header "Authorization: Bearer ${created.token}"</code></pre>
</section>`
  }
${
    input.tokens.length === 0
      ? html`<p>You have no tokens.</p>`
      : html`<table><caption>Your tokens</caption>
<thead><tr><th scope="col">Name</th><th scope="col">Id</th><th scope="col">Made</th><th scope="col">Ends</th><th scope="col">Actions</th></tr></thead>
<tbody>${
        input.tokens.map((token) =>
          html`<tr><td>${token.name}</td><td><code>${token.id}</code></td><td>${time(token.createdAt)}</td><td>${
            token.expiresAt <= input.now ? html`<span class="muted">ended</span> ` : ""
          }${time(token.expiresAt)}</td><td><form method="post" action="/app/tokens/revoke">${
            csrfField(input.frame.csrf)
          }<input type="hidden" name="id" value="${token.id}"><button type="submit" class="danger" aria-label="Revoke ${token.name}">Revoke</button></form></td></tr>`
        )
      }</tbody></table>`
  }
<h2>Make a token</h2>
<form class="stack" method="post" action="/app/tokens" autocomplete="off">
${csrfField(input.frame.csrf)}
<div><label for="token-name">Name <span class="hint">(what it is for, like “laptop Claude Code”)</span></label>
<input id="token-name" name="name" required maxlength="60"></div>
<div><label for="token-days">Ends after</label>
<select id="token-days" name="days">
<option value="7">7 days</option>
<option value="30" selected>30 days</option>
<option value="90">90 days</option>
<option value="365">365 days</option>
</select></div>
<div><button type="submit" class="primary">Make token</button></div>
</form>
<p class="muted">MCP endpoint: <code>${input.mcpUrl}</code></p>`
  return page({ title: "My tokens", frame: input.frame, section: "tokens", body })
}

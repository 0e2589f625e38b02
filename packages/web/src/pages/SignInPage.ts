/** The sign-in page (the only page for someone not signed in), and the page shown when the web app is off. */
import { html } from "../Html.ts"
import { notice, page } from "./Layout.ts"

export const render = (options: { readonly returnTo: string; readonly message?: string | undefined }): string =>
  page({
    title: "Sign in",
    body: html`<h1>Sign in to Porter</h1>
${options.message !== undefined && notice(options.message)}
<p>Porter runs coding agents on GitHub issues. Sign in with GitHub to see the tasks of your repositories, steer them,
and keep your own keys.</p>
<p><a class="button primary" href="/login/github?return=${
      encodeURIComponent(options.returnTo)
    }">Sign in with GitHub</a></p>
<p class="muted">Porter asks GitHub who you are and which repositories you can reach; it never writes with your account.</p>`
  })

/** `/app` when the web app is not configured: what to set. */
export const off = (problem: string): string =>
  page({
    title: "Web app off",
    body: html`<h1>The web app is off</h1><p>${problem}</p>
<p>Set <code>GITHUB_OAUTH_CLIENT_ID</code>, <code>GITHUB_OAUTH_CLIENT_SECRET</code> (the GitHub App's OAuth
credentials, with the callback URL <code>…/oauth/callback</code>) and <code>PORTER_SESSION_SECRET</code>
(<code>openssl rand -base64 32</code>); <code>PORTER_OPERATORS</code> lists the logins that may rotate keys.</p>`
  })

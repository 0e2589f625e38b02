/**
 * The OAuth web flow of the App (GitHub's "user access tokens" for GitHub Apps), and what a user token may ask:
 *
 * - `GET /login/oauth/authorize?client_id&redirect_uri&state&login`: the person signed in to the emulator (its
 *   `_gh_emulator_user` cookie, or the user set with `signInAs`) approves at once — a redirect to `redirect_uri`
 *   with `code` and `state`. Nobody signed in: a small sign-in page (a login field, prefilled with `login`) whose
 *   form signs in as that user and approves. There are no passwords: the emulator is a loopback test tool.
 * - `POST /login/oauth/access_token` (`client_id`, `client_secret`, `code`, `redirect_uri`; JSON or a form): the
 *   user's `ghu_…` token, as JSON (`Accept: application/json`) or a form-encoded body; refusals are GitHub's `200`
 *   answers with `error`, `error_description` and `error_uri` (`incorrect_client_credentials`,
 *   `bad_verification_code`, `redirect_uri_mismatch`). A code is good for one exchange within 10 minutes.
 * - `GET /user/installations` and `GET /user/installations/{installation_id}/repositories`: the App's installations
 *   and repositories the user has explicit access to (owner, organization owner, collaborator), each repository
 *   with the user's `permissions`. Only user-to-server (`ghu_…`) tokens may ask, as on GitHub (others: 403).
 *
 * Not emulated: token expiry and refresh tokens (like an App that opted out of expiring user tokens), scopes,
 * registered callback URLs (any `redirect_uri` is accepted; the exchange checks it matches the authorize request's),
 * PKCE, the device flow.
 */
import { Effect, Schema } from "effect"
import { randomBytes } from "node:crypto"
import { credentialOf } from "../Auth.ts"
import type { RouteContext } from "../Context.ts"
import { ApiError, decodeBody, forbidden, json, paginate, requiresAuthentication } from "../Http.ts"
import type { ApiRequest, Reply, Route } from "../Http.ts"
import type { Account, Installation, Repo } from "../State.ts"
import { LOGIN } from "../State.ts"

/** The emulator's browser session: the login signed in (a test tool: the cookie is the login itself). */
export const SESSION_COOKIE = "_gh_emulator_user"
const CODE_LIFETIME_MS = 10 * 60 * 1000
const DOCS = "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors"

interface Grant {
  readonly account: Account
  readonly redirectUri: string | undefined
  readonly expiresAt: number
}

export interface OAuth {
  readonly routes: ReadonlyArray<Route>
  /** The App's client secret (its client id is `app.clientId`). */
  readonly clientSecret: string
  /** Who approves without the sign-in page when no browser session says otherwise; `undefined`: nobody. */
  readonly signInAs: (login: string | undefined) => void
}

const AccessTokenBody = Schema.Struct({
  client_id: Schema.optional(Schema.String),
  client_secret: Schema.optional(Schema.String),
  code: Schema.optional(Schema.String),
  redirect_uri: Schema.optional(Schema.String)
})
const SignInBody = Schema.Struct({
  login: Schema.String,
  client_id: Schema.String,
  redirect_uri: Schema.optional(Schema.String),
  state: Schema.optional(Schema.String)
})

const escape = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" })[c]!)

const html = (body: string, status = 200, headers?: Record<string, string>): Reply => ({
  _tag: "Text",
  status,
  contentType: "text/html; charset=utf-8",
  body: `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign in · GitHub emulator</title></head>` +
    `<body><main>${body}</main></body></html>`,
  ...(headers !== undefined ? { headers } : {})
})

const cookieOf = (header: string | undefined, name: string): string | undefined => {
  for (const part of (header ?? "").split(";")) {
    const at = part.indexOf("=")
    if (at > 0 && part.slice(0, at).trim() === name) return decodeURIComponent(part.slice(at + 1).trim())
  }
  return undefined
}

export const make = (context: RouteContext): OAuth => {
  const { payloads, state } = context
  const clientSecret = randomBytes(20).toString("hex")
  const grants = new Map<string, Grant>()
  const userToServer = new Set<string>()
  let defaultUser: string | undefined

  const user = (login: string | undefined) => {
    const account = login === undefined || !LOGIN.test(login) ? undefined : state.account(login)
    return account?.type === "User" ? account : undefined
  }

  /** The redirect that approves: a fresh code for `account`, bound to the client's redirect URI. */
  const approve = (account: Account, redirectUri: string, oauthState: string | undefined, signIn: boolean): Reply => {
    const code = randomBytes(10).toString("hex")
    grants.set(code, { account, redirectUri, expiresAt: state.now() + CODE_LIFETIME_MS })
    const target = new URL(redirectUri)
    target.searchParams.set("code", code)
    if (oauthState !== undefined) target.searchParams.set("state", oauthState)
    return {
      _tag: "Empty",
      status: 302,
      headers: {
        location: target.href,
        ...(signIn ? { "set-cookie": `${SESSION_COOKIE}=${account.login}; Path=/; HttpOnly; SameSite=Lax` } : {})
      }
    }
  }

  const validRedirect = (uri: string | undefined) => {
    if (uri === undefined) return undefined
    try {
      const url = new URL(uri)
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : undefined
    } catch {
      return undefined
    }
  }

  const signInPage = (query: URLSearchParams, redirectUri: string, message?: string) => {
    const hidden = (name: string, value: string | null) =>
      value === null ? "" : `<input type="hidden" name="${name}" value="${escape(value)}">`
    return html(
      `<h1>Sign in to the GitHub emulator</h1>` +
        (message !== undefined ? `<p role="alert">${escape(message)}</p>` : "") +
        `<p>${escape(state.app.name)} wants to know who you are. There are no passwords here.</p>` +
        `<form method="post" action="/login/oauth/authorize">` +
        `<label for="login">Username</label> ` +
        `<input id="login" name="login" autocomplete="username" required value="${escape(query.get("login") ?? "")}">` +
        hidden("client_id", query.get("client_id")) + hidden("redirect_uri", redirectUri) +
        hidden("state", query.get("state")) +
        ` <button type="submit">Sign in and authorize</button></form>`,
      message === undefined ? 200 : 422
    )
  }

  /** The form's answer, or GitHub's JSON error, as the client asked (`Accept`). */
  const tokenAnswer = (request: ApiRequest, fields: Record<string, string | number>): Reply => {
    const wantsJson = /json/i.test(request.headers["accept"] ?? "")
    if (wantsJson) return json(fields)
    return {
      _tag: "Text",
      status: 200,
      contentType: "application/x-www-form-urlencoded; charset=utf-8",
      body: new URLSearchParams(Object.entries(fields).map(([k, v]): [string, string] => [k, String(v)])).toString()
    }
  }

  const tokenError = (request: ApiRequest, error: string, description: string, anchor: string) =>
    tokenAnswer(request, { error, error_description: description, error_uri: `${DOCS}#${anchor}` })

  /** The user behind a user-to-server token, or GitHub's refusal. */
  const userToServerAccount = (request: ApiRequest) => {
    if (request.principal._tag === "Anonymous") return Effect.fail(requiresAuthentication())
    const token = credentialOf(request.headers["authorization"])
    if (request.principal._tag !== "User" || token === undefined || !userToServer.has(token)) {
      return Effect.fail(
        forbidden(
          "You must authenticate with an access token authorized to a GitHub App in order to list installations"
        )
      )
    }
    return Effect.succeed(request.principal.account)
  }

  /** Repositories of `installation` the user has explicit access to. */
  const reposFor = (account: Account, installation: Installation): ReadonlyArray<Repo> =>
    state.reposOfInstallation(installation).filter((repo) => state.isCollaborator(account, repo))

  const installationsFor = (account: Account): ReadonlyArray<Installation> =>
    state.installations().filter((installation) =>
      installation.account.id === account.id || state.org(installation.account.id)?.owners.has(account.id) === true ||
      reposFor(account, installation).length > 0
    )

  const routes: ReadonlyArray<Route> = [
    {
      method: "GET",
      path: "/login/oauth/authorize",
      web: true,
      handler: (request) =>
        Effect.sync(() => {
          if (request.query.get("client_id") !== state.app.clientId) {
            return html("<h1>404</h1><p>This is not the web page you are looking for.</p>", 404)
          }
          const redirectUri = validRedirect(request.query.get("redirect_uri") ?? undefined)
          if (redirectUri === undefined) {
            return html("<h1>Redirect URI</h1><p>The redirect_uri is missing or not an http(s) URL.</p>", 400)
          }
          const signedIn = user(cookieOf(request.headers["cookie"], SESSION_COOKIE)) ?? user(defaultUser)
          return signedIn !== undefined
            ? approve(signedIn, redirectUri, request.query.get("state") ?? undefined, false)
            : signInPage(request.query, redirectUri)
        })
    },
    {
      method: "POST",
      path: "/login/oauth/authorize",
      web: true,
      handler: (request) =>
        Effect.gen(function*() {
          const body = yield* decodeBody(SignInBody)(request.body)
          const redirectUri = validRedirect(body.redirect_uri)
          if (body.client_id !== state.app.clientId || redirectUri === undefined) {
            return html("<h1>404</h1><p>This is not the web page you are looking for.</p>", 404)
          }
          const account = user(body.login.trim())
          if (account === undefined) {
            const query = new URLSearchParams({ client_id: body.client_id, login: body.login })
            if (body.state !== undefined) query.set("state", body.state)
            return signInPage(query, redirectUri, "Incorrect username.")
          }
          return approve(account, redirectUri, body.state, true)
        })
    },
    {
      method: "POST",
      path: "/login/oauth/access_token",
      web: true,
      handler: (request) =>
        Effect.gen(function*() {
          const body = yield* decodeBody(AccessTokenBody)(request.body)
          if (body.client_id !== state.app.clientId || body.client_secret !== clientSecret) {
            return tokenError(
              request,
              "incorrect_client_credentials",
              "The client_id and/or client_secret passed are incorrect.",
              "incorrect-client-credentials"
            )
          }
          const grant = body.code === undefined ? undefined : grants.get(body.code)
          if (grant === undefined || grant.expiresAt <= state.now()) {
            if (body.code !== undefined) grants.delete(body.code)
            return tokenError(
              request,
              "bad_verification_code",
              "The code passed is incorrect or expired.",
              "bad-verification-code"
            )
          }
          if (body.redirect_uri !== undefined && validRedirect(body.redirect_uri) !== grant.redirectUri) {
            return tokenError(
              request,
              "redirect_uri_mismatch",
              "The redirect_uri MUST match the registered callback URL for this application.",
              "redirect-uri-mismatch"
            )
          }
          grants.delete(body.code!)
          const token = state.issueUserToken(grant.account, "ghu_")
          userToServer.add(token)
          return tokenAnswer(request, { access_token: token, token_type: "bearer", scope: "" })
        })
    },
    {
      method: "GET",
      path: "/user/installations",
      handler: (request) =>
        Effect.gen(function*() {
          const account = yield* userToServerAccount(request)
          const all = installationsFor(account)
          const page = paginate(all, request, context.baseUrl)
          return json({ total_count: all.length, installations: page.items.map(payloads.installation) }, 200, {
            ...page.headers
          })
        })
    },
    {
      method: "GET",
      path: "/user/installations/{installation_id}/repositories",
      handler: (request) =>
        Effect.gen(function*() {
          const account = yield* userToServerAccount(request)
          const installation = state.installation(Number(request.params["installation_id"]))
          if (installation === undefined || !installationsFor(account).includes(installation)) {
            return yield* new ApiError({
              status: 404,
              message: "Not Found",
              documentationUrl: "https://docs.github.com/rest/apps"
            })
          }
          const repos = reposFor(account, installation)
          const page = paginate(repos, request, context.baseUrl)
          return json(
            {
              total_count: repos.length,
              repository_selection: "all",
              repositories: page.items.map((repo) => payloads.repository(repo, state.roleOf(account, repo)))
            },
            200,
            page.headers
          )
        })
    }
  ]

  return {
    routes,
    clientSecret,
    signInAs: (login) => {
      defaultUser = login
    }
  }
}

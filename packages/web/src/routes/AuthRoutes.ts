/**
 * Signing in and out: `GET /login` (the sign-in page), `GET /login/github` (to GitHub's authorize page, with a
 * fresh OAuth `state` remembered in a signed cookie), `GET /oauth/callback` (the code exchanged for the user's token,
 * who they are, a new session; the user's personal tokens carry this sign-in from now on), `POST /logout`
 * (CSRF-checked; the session is deleted, the cookie cleared).
 */
import { Effect, Option } from "effect"
import { HttpRouter } from "effect/http"
import { Access } from "../Access.ts"
import { GitHubAccounts } from "../GitHubAccounts.ts"
import { unavailable } from "../pages/Layout.ts"
import * as SignInPage from "../pages/SignInPage.ts"
import { PersonalTokens } from "../PersonalTokens.ts"
import { safeReturn, Sessions } from "../Sessions.ts"
import { WebConfig } from "../WebConfig.ts"
import { type Guard, htmlResponse, redirect, urlOf } from "../WebHttp.ts"

/** Messages the sign-in page shows, by code (`?m=`): never text from the URL. */
const MESSAGES: Record<string, string> = {
  "signed-out": "You are signed out.",
  "expired": "Your sign-in has ended: sign in again.",
  "denied": "GitHub did not let Porter know who you are.",
  "retry": "That sign-in did not complete (it took too long, or started elsewhere): please try again."
}

export const routes = (guard: Guard) =>
  HttpRouter.use(
    Effect.fn("WebApp.authRoutes")(function*(router) {
      const config = yield* WebConfig
      const sessions = yield* Sessions
      const github = yield* GitHubAccounts
      const access = yield* Access
      const tokens = yield* PersonalTokens

      yield* router.add("GET", "/login", (request) =>
        Effect.gen(function*() {
          const url = urlOf(request)
          const returnTo = safeReturn(url.searchParams.get("return") ?? undefined)
          const current = yield* guard.sessionOf(request)
          if (Option.isSome(current)) return redirect(returnTo)
          const message = MESSAGES[url.searchParams.get("m") ?? ""]
          return htmlResponse(SignInPage.render({ returnTo, message }))
        }).pipe(
          Effect.catchTag(
            "StoreError",
            () => Effect.succeed(htmlResponse(unavailable(undefined, "Porter's storage did not answer."), 503))
          )
        ))

      yield* router.add("GET", "/login/github", (request) =>
        Effect.gen(function*() {
          const returnTo = safeReturn(urlOf(request).searchParams.get("return") ?? undefined)
          const { cookie, state } = yield* sessions.beginOAuth(returnTo)
          const query = new URLSearchParams({
            client_id: config.clientId,
            redirect_uri: config.callbackUrl,
            state,
            allow_signup: "false"
          })
          return guard.setCookies(redirect(`${config.githubWebUrl}/login/oauth/authorize?${query}`), [cookie])
        }))

      yield* router.add("GET", "/oauth/callback", (request) =>
        Effect.gen(function*() {
          const url = urlOf(request)
          const clearState = sessions.clear(sessions.oauthCookieName)
          const returnTo = yield* sessions.finishOAuth(
            request.cookies[sessions.oauthCookieName],
            url.searchParams.get("state") ?? undefined
          )
          const code = url.searchParams.get("code")
          if (Option.isNone(returnTo) || code === null) {
            const reason = url.searchParams.get("error") === "access_denied" ? "denied" : "retry"
            return guard.setCookies(redirect(`/login?m=${reason}`), [clearState])
          }
          const token = yield* github.exchange(code)
          const user = yield* github.user(token)
          const started = yield* sessions.start(user, token)
          yield* access.forget(user.id)
          // The user's personal tokens act with the newest sign-in (an expiring GitHub token is renewed this way).
          yield* tokens.adopt(started.session).pipe(
            Effect.catchTag(
              "StoreError",
              (error) => Effect.logWarning("web: personal tokens kept their sign-in", { error: error.message })
            )
          )
          yield* Effect.logInfo("web: signed in", { login: user.login })
          return guard.setCookies(redirect(returnTo.value), [started.cookie, clearState])
        }).pipe(
          Effect.catchTags({
            SignInFailed: () => Effect.succeed(redirect("/login?m=retry")),
            TokenRefused: () => Effect.succeed(redirect("/login?m=denied")),
            GitHubUnavailable: (error) =>
              Effect.as(
                Effect.logWarning("web: sign-in failed, GitHub did not answer", { error: error.message }),
                htmlResponse(unavailable(undefined, "GitHub did not answer: try signing in again."), 503)
              ),
            StoreError: () =>
              Effect.succeed(htmlResponse(unavailable(undefined, "Porter's storage did not answer."), 503))
          })
        ))

      yield* router.add("POST", "/logout", (request) =>
        guard.action(request, (context) =>
          Effect.gen(function*() {
            const cleared = yield* sessions.end(context.session)
            yield* access.forget(context.session.userId)
            return guard.setCookies(redirect("/login?m=signed-out"), [cleared])
          })))
    })
  )

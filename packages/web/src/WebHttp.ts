/**
 * What every web route goes through, in one place:
 *
 * - `page(request, f)`: the session from the cookie (none: a redirect to `/login`, back here afterwards), the viewer
 *   (the user's repositories and roles, `Access`), then `f`;
 * - `action(request, f)`: the same, for state-changing requests (POST): the request must come from this site
 *   (`Origin`, when the browser sends it, is the public URL's; `Sec-Fetch-Site` is not `cross-site`) and its form must
 *   carry the session's CSRF token, else 403 and nothing is done; then `f` with the decoded form;
 * - the answers: HTML with security headers (a content security policy allowing this site's script and style only, no
 *   framing, no referrer to other sites, `no-store`), redirects (303), cookies with the session's attributes, and the
 *   refusals as pages — `NotFound` (404, also for what the user may not see), `Refused` (403), GitHub or storage not
 *   answering (503), and a token GitHub no longer accepts (signed out, back to `/login`).
 */
import { Errors, HttpApp } from "@porter/core"
import { Effect, Option, Schema } from "effect"
import { type HttpServerRequest, HttpServerResponse } from "effect/http"
import { Access, type Viewer } from "./Access.ts"
import type { GitHubUnavailable, TokenRefused } from "./GitHubAccounts.ts"
import { type Frame, notFound, refused, unavailable } from "./pages/Layout.ts"
import { type Cookie, type Session, Sessions } from "./Sessions.ts"
import { WebConfig } from "./WebConfig.ts"

/** Not there, or not for this user: the same 404. */
export class NotFound extends Schema.TaggedError<NotFound>()("WebNotFound", {}) {}
/** A request the web app will not act on (no CSRF token, another site's form). */
export class Refused extends Schema.TaggedError<Refused>()("WebRefused", { message: Schema.String }) {}

/** What a page or action gets: the session, the viewer, the page frame and the request's URL. */
export interface Context {
  readonly session: Session
  readonly viewer: Viewer
  readonly frame: Frame
  readonly url: URL
}

/** A decoded form body. */
export type Form = Readonly<Record<string, string | undefined>>

type Failure = NotFound | Refused | TokenRefused | GitHubUnavailable | Errors.StoreError

const MAX_FORM_BYTES = 64 * 1024

const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "referrer-policy": "same-origin",
  "cache-control": "no-store"
}

/** An HTML answer with the security headers. */
export const htmlResponse = (body: string, status = 200): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.text(body, { status, contentType: "text/html; charset=utf-8", headers: SECURITY_HEADERS })

/** A JSON answer (the live updates), not cached. */
export const jsonResponse = (body: unknown): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.jsonUnsafe(body, { headers: { "cache-control": "no-store", "x-content-type-options": "nosniff" } })

/** 303 See Other: after a form, the browser GETs `location`. */
export const redirect = (location: string): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.empty({ status: 303, headers: { location, "cache-control": "no-store" } })

/** The request's URL (its path and query; the host does not matter here). */
export const urlOf = (request: HttpServerRequest.HttpServerRequest): URL => new URL(request.url, "http://porter.local")

/** The guards (`page`, `action`) and answers every web route uses. */
export const make = Effect.gen(function*() {
  const config = yield* WebConfig
  const sessions = yield* Sessions
  const access = yield* Access
  const origin = new URL(config.publicUrl).origin

  const setCookies = (response: HttpServerResponse.HttpServerResponse, cookies: ReadonlyArray<Cookie>) =>
    cookies.reduce(
      (answer, cookie) =>
        HttpServerResponse.setCookieUnsafe(cookie.name, cookie.value, {
          path: "/",
          httpOnly: true,
          sameSite: "lax",
          secure: config.secureCookies,
          maxAge: `${cookie.maxAgeSeconds} seconds`,
          ...(cookie.maxAgeSeconds === 0 ? { expires: new Date(0) } : {})
        })(answer),
      response
    )

  const sessionOf = (request: HttpServerRequest.HttpServerRequest) =>
    sessions.current(request.cookies[sessions.cookieName])

  /** To the sign-in page, back to `url` afterwards (`code`: which message the sign-in page shows). */
  const signIn = (url: URL, code?: "expired") => {
    const query = new URLSearchParams({ return: `${url.pathname}${url.search}` })
    if (code !== undefined) query.set("m", code)
    return redirect(`/login?${query}`)
  }

  /** The refusals and outages as pages; a refused token ends the session. */
  const answerFailure = (failure: Failure, frame: Frame | undefined, session: Session | undefined, url: URL) => {
    switch (failure._tag) {
      case "WebNotFound":
        return Effect.succeed(htmlResponse(notFound(frame), 404))
      case "WebRefused":
        return Effect.succeed(htmlResponse(refused(frame, failure.message), 403))
      case "TokenRefused":
        return Effect.gen(function*() {
          const cleared = session !== undefined
            ? yield* Effect.orElseSucceed(sessions.end(session), () => undefined)
            : undefined
          return setCookies(signIn(url, "expired"), cleared ? [cleared] : [])
        })
      case "GitHubUnavailable":
        return Effect.as(
          Effect.logWarning("web: GitHub did not answer", { error: failure.message }),
          htmlResponse(unavailable(frame, "GitHub did not answer."), 503)
        )
      case "StoreError":
        return Effect.as(
          Effect.logError("web: storage failed", { error: failure.message }),
          htmlResponse(unavailable(frame, "Porter's storage did not answer."), 503)
        )
    }
  }

  const withContext = <E extends Failure>(
    request: HttpServerRequest.HttpServerRequest,
    f: (context: Context) => Effect.Effect<HttpServerResponse.HttpServerResponse, E>,
    onAnonymous: (url: URL) => HttpServerResponse.HttpServerResponse
  ) => {
    const url = urlOf(request)
    let known: Context | undefined
    let session: Session | undefined
    return Effect.gen(function*() {
      const found = yield* sessionOf(request)
      if (Option.isNone(found)) return onAnonymous(url)
      session = found.value
      const viewer = yield* access.viewer(found.value)
      known = {
        session: found.value,
        viewer,
        frame: { login: viewer.login, operator: viewer.operator, csrf: found.value.csrf },
        url
      }
      return yield* f(known)
    }).pipe(Effect.catch((failure: Failure) => answerFailure(failure, known?.frame, session, url)))
  }

  /** A page for a signed-in user. */
  const page = <E extends Failure>(
    request: HttpServerRequest.HttpServerRequest,
    f: (context: Context) => Effect.Effect<HttpServerResponse.HttpServerResponse, E>
  ) => withContext(request, f, (url) => signIn(url))

  /** Whether the request comes from a page of this site (when the browser says where it comes from). */
  const sameSite = (request: HttpServerRequest.HttpServerRequest) => {
    const from = request.headers["origin"]
    if (from !== undefined && from !== "null" && from !== origin) return false
    return request.headers["sec-fetch-site"] !== "cross-site"
  }

  /** Reads an urlencoded form (64 KiB at most). */
  const formOf = (request: HttpServerRequest.HttpServerRequest): Effect.Effect<Form, Refused> =>
    HttpApp.readBody(request, MAX_FORM_BYTES).pipe(
      Effect.map((text) => Object.fromEntries(new URLSearchParams(text))),
      Effect.mapError(() => new Refused({ message: "The form could not be read (64 KiB at most)." }))
    )

  /** A state-changing request of a signed-in user: same site, CSRF token checked, then `f` with the form. */
  const action = <E extends Failure>(
    request: HttpServerRequest.HttpServerRequest,
    f: (context: Context, form: Form) => Effect.Effect<HttpServerResponse.HttpServerResponse, E>
  ) =>
    withContext(
      request,
      (context) =>
        Effect.gen(function*() {
          if (!sameSite(request)) return yield* new Refused({ message: "This form was sent from another site." })
          const form = yield* formOf(request)
          if (!sessions.checkCsrf(context.session, form["_csrf"])) {
            return yield* new Refused({
              message: "This form is missing its security token: reload the page and try again."
            })
          }
          return yield* f(context, form)
        }),
      () => htmlResponse(refused(undefined, "You are not signed in."), 403)
    )

  return { page, action, setCookies, sessionOf, formOf, sameSite, htmlResponse, signIn }
})

/** The guards and answers `make` builds. */
export type Guard = Effect.Success<typeof make>

/** A non-empty trimmed form value, or `undefined`. */
export const field = (form: Form, name: string): string | undefined => {
  const value = form[name]?.trim()
  return value === undefined || value.length === 0 ? undefined : value
}

/** Whether `error` is storage not answering (shown as a 503 page). */
export const isStoreError = (error: unknown): error is Errors.StoreError => error instanceof Errors.StoreError

/**
 * Who is calling Porter's MCP server, and the door they come through.
 *
 * - `Caller`: the user a personal Porter token stands for (`PersonalTokens.verify`), provided per HTTP request to the
 *   tools, which ask `Access` what the user may do on every call (the web app's rules: read → see, write → start,
 *   cancel and retry; anything else reads as "not found").
 * - `authentication`: an `HttpRouter` middleware for `/mcp`: no token, or one that is not a live personal token,
 *   is answered 401 before the MCP server reads anything, with `WWW-Authenticate: Bearer` and where to make a token.
 * - `ToolFailure`: what a tool answers when it cannot do what was asked (an MCP tool error: `isError` with the text).
 */
import { type Access, PersonalTokens } from "@porter/web"
import { Context, Effect, Option, Schema } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"

/** Who calls a tool: the personal token used and its GitHub user. */
export interface CallerShape {
  readonly tokenId: string
  readonly userId: number
  readonly login: string
  readonly user: PersonalTokens.TokenUser
}

/** The caller of the current MCP request, from its bearer token. */
export class Caller extends Context.Service<Caller, CallerShape>()("@porter/mcp/Caller") {}

/** A tool could not do what was asked; `message` says why, in words for the person (or model) asking. */
export class ToolFailure extends Schema.TaggedError<ToolFailure>()("ToolFailure", { message: Schema.String }) {}

const BEARER = /^Bearer\s+(\S+)\s*$/i

/** The bearer token of an `Authorization` header, if it has one. */
export const bearerOf = (header: string | undefined): string | undefined => BEARER.exec(header ?? "")?.[1]

/** The 401 answer: JSON-RPC shaped, so MCP clients show the message. */
const unauthorized = (tokensUrl: string, reason: string) =>
  HttpServerResponse.jsonUnsafe({
    jsonrpc: "2.0",
    id: null,
    error: {
      code: -32001,
      message: `${reason} Make a personal token at ${tokensUrl} and send it as \`Authorization: Bearer <token>\`.`
    }
  }, {
    status: 401,
    headers: {
      "www-authenticate": `Bearer realm="porter", error="invalid_token"`,
      "cache-control": "no-store"
    }
  })

/** Checks the bearer token of every `/mcp` request and provides its `Caller` (401 otherwise). */
export const authentication = (tokensUrl: string) =>
  HttpRouter.middleware<{ provides: Caller }>()(
    Effect.gen(function*() {
      const tokens = yield* PersonalTokens.PersonalTokens
      return (httpEffect) =>
        Effect.gen(function*() {
          const request = yield* HttpServerRequest.HttpServerRequest
          const bearer = bearerOf(request.headers["authorization"])
          if (bearer === undefined) return unauthorized(tokensUrl, "Porter's MCP server needs a personal token.")
          const user = yield* tokens.verify(bearer).pipe(
            Effect.catchTag(
              "StoreError",
              (error) => Effect.as(Effect.logError("mcp: token lookup failed", { error: error.message }), undefined)
            )
          )
          if (user === undefined) {
            return HttpServerResponse.jsonUnsafe({
              jsonrpc: "2.0",
              id: null,
              error: { code: -32603, message: "Porter's storage did not answer: try again in a moment." }
            }, { status: 503, headers: { "retry-after": "5" } })
          }
          if (Option.isNone(user)) {
            return unauthorized(tokensUrl, "This token is not a live Porter token (unknown, revoked or ended).")
          }
          const caller: CallerShape = {
            tokenId: user.value.tokenId,
            userId: user.value.userId,
            login: user.value.login,
            user: user.value
          }
          return yield* Effect.provideService(httpEffect, Caller, caller)
        })
    })
  )

/** What the caller may do now: `Access`'s view of their GitHub permissions (cached briefly, like the web app's). */
export const viewerOf = (
  access: Access.Access["Service"],
  caller: CallerShape
): Effect.Effect<Access.Viewer, ToolFailure> =>
  access.viewer({
    idHash: caller.tokenId,
    userId: caller.userId,
    login: caller.login,
    token: caller.user.githubToken,
    expiresAt: caller.user.expiresAt,
    csrf: ""
  }).pipe(
    Effect.catchTags({
      TokenRefused: () =>
        Effect.fail(
          new ToolFailure({
            message: "GitHub no longer accepts the sign-in this token was made with: sign in to Porter's web app " +
              "again and make a new token."
          })
        ),
      GitHubUnavailable: () =>
        Effect.fail(new ToolFailure({ message: "GitHub did not answer: try again in a moment." }))
    })
  )

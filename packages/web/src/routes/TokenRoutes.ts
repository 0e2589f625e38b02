/**
 * My tokens (`/app/tokens`): a signed-in user's personal Porter tokens for MCP clients — list, make (shown once, on
 * the answer to the form), revoke (`PersonalTokens`). Forms are CSRF-checked like every other; a token can only be
 * revoked by its own user (another id is 404).
 */
import { Clock, Effect, Option, Redacted, Schema } from "effect"
import { HttpRouter } from "effect/http"
import * as TokensPage from "../pages/TokensPage.ts"
import { PersonalTokens, TokenName } from "../PersonalTokens.ts"
import { WebConfig } from "../WebConfig.ts"
import { type Context, field, type Guard, htmlResponse, NotFound, redirect } from "../WebHttp.ts"

const decodeName = Schema.decodeUnknownOption(TokenName)

export const routes = (guard: Guard) =>
  HttpRouter.use(
    Effect.fn("WebApp.tokenRoutes")(function*(router) {
      const config = yield* WebConfig
      const tokens = yield* PersonalTokens
      const mcpUrl = `${config.publicUrl}/mcp`

      const tokensPage = (
        context: Context,
        notices: Pick<TokensPage.TokensPageInput, "created" | "message" | "problem"> = {},
        status = 200
      ) =>
        Effect.gen(function*() {
          return htmlResponse(
            TokensPage.render({
              frame: context.frame,
              tokens: yield* tokens.list(context.viewer.userId),
              now: yield* Clock.currentTimeMillis,
              mcpUrl,
              ...notices
            }),
            status
          )
        })

      yield* router.add("GET", "/app/tokens", (request) =>
        guard.page(request, (context) =>
          tokensPage(context, context.url.searchParams.get("done") === "revoked" ? { message: "Token revoked." } : {})))

      yield* router.add("POST", "/app/tokens", (request) =>
        guard.action(request, (context, form) =>
          Effect.gen(function*() {
            const name = decodeName(field(form, "name") ?? "")
            if (Option.isNone(name)) {
              return yield* tokensPage(context, { problem: "A token's name is 1 to 60 characters." }, 422)
            }
            const days = Number(field(form, "days") ?? "30")
            const made = yield* tokens.create(context.session, { name: name.value, days }).pipe(
              Effect.map(Option.some),
              Effect.catchTag("TooManyTokens", () =>
                Effect.succeed(Option.none()))
            )
            if (Option.isNone(made)) {
              return yield* tokensPage(context, {
                problem: "You have as many tokens as you may: revoke one first."
              }, 422)
            }
            yield* Effect.logInfo("web: personal token made", { user: context.viewer.login, id: made.value.stored.id })
            return yield* tokensPage(context, {
              created: { name: made.value.stored.name, token: Redacted.value(made.value.token) }
            })
          })))

      yield* router.add("POST", "/app/tokens/revoke", (request) =>
        guard.action(request, (context, form) =>
          Effect.gen(function*() {
            const id = field(form, "id") ?? ""
            if (!(yield* tokens.revoke(context.viewer.userId, id))) {
              return yield* new NotFound()
            }
            yield* Effect.logInfo("web: personal token revoked", { user: context.viewer.login, id })
            return redirect("/app/tokens?done=revoked")
          })))
    })
  )

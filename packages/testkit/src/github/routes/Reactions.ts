/**
 * Reactions on issues, issue comments and pull request review comments: create (201 when new, 200
 * with the existing reaction when the same user already reacted the same way, like GitHub), list
 * (optionally by `content`), delete.
 */
import { Effect, Schema } from "effect"
import { authorize } from "../Auth.ts"
import type { Need } from "../Auth.ts"
import type { RouteContext } from "../Context.ts"
import { makeHelpers } from "../Context.ts"
import { decodeBody, forbidden, json, jsonPage, noContent } from "../Http.ts"
import type { ApiError, ApiRequest, Route } from "../Http.ts"
import type { Issue, ReactionSubject, Repo } from "../State.ts"
import { REACTIONS } from "../State.ts"

const ReactionBody = Schema.Struct({ content: Schema.Literals(REACTIONS) })

export interface ReactionTarget {
  readonly repo: Repo
  readonly issue: Issue
  readonly subject: ReactionSubject
}

export const reactionRoutes = (
  context: RouteContext,
  path: string,
  targetOf: (request: ApiRequest) => Effect.Effect<ReactionTarget, ApiError>
): ReadonlyArray<Route> => {
  const { payloads, state } = context
  const helpers = makeHelpers(context)
  const react = (target: ReactionTarget): Need => ({
    role: "read",
    scope: target.issue.pull ? ["issues", "pull_requests"] : "issues",
    level: "write"
  })

  return [
    {
      method: "POST",
      path,
      handler: (request) =>
        Effect.gen(function*() {
          const target = yield* targetOf(request)
          yield* authorize(state, request.principal, target.repo, react(target))
          const body = yield* decodeBody(ReactionBody)(request.body)
          const { created, reaction } = state.react(target.subject, helpers.actor(request).account, body.content)
          return json(payloads.reaction(reaction), created ? 201 : 200)
        })
    },
    {
      method: "GET",
      path,
      handler: (request) =>
        Effect.gen(function*() {
          const { subject } = yield* targetOf(request)
          const content = request.query.get("content")
          const list = state.reactionsOf(subject).filter((reaction) => content === null || reaction.content === content)
          return jsonPage(list.map(payloads.reaction), request, context.baseUrl)
        })
    },
    {
      method: "DELETE",
      path: `${path}/{reaction_id}`,
      handler: (request) =>
        Effect.gen(function*() {
          const target = yield* targetOf(request)
          yield* authorize(state, request.principal, target.repo, react(target))
          const id = Number(request.params["reaction_id"])
          const reaction = state.reactionsOf(target.subject).find((candidate) => candidate.id === id)
          const actor = helpers.actor(request).account
          if (reaction && reaction.user.id !== actor.id && !actor.siteAdmin) {
            return yield* forbidden("You can only delete your own reactions.")
          }
          state.removeReaction(target.subject, id)
          return noContent
        })
    }
  ]
}

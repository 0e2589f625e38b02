/**
 * The conversation on issues and pull requests in the emulator's model of GitHub: issue comments, review comments on
 * a pull request's diff, and reactions on issues and both kinds of comments. Part of `State.ts`, which gives it its
 * ids and clock.
 */
import type {
  Account,
  Issue,
  IssueComment,
  Reaction,
  ReactionContent,
  ReactionSubject,
  ReviewComment
} from "./Records.ts"
import { nodeId } from "./Records.ts"

/** Comments, review comments and reactions; `nextId` and `now` are the state's. */
export const makeConversation = (
  nextId: (kind: string) => number,
  now: () => number
) => {
  const comments = new Map<number, IssueComment>()
  const reviewComments = new Map<number, ReviewComment>()
  const reactions: Array<Reaction> = []

  const addComment = (target: Issue, author: Account, viaApp: boolean, body: string): IssueComment => {
    const id = nextId("comment")
    const created: IssueComment = {
      id,
      nodeId: nodeId("IssueComment", id),
      issue: target,
      author,
      viaApp,
      body,
      createdAt: now(),
      updatedAt: now()
    }
    comments.set(id, created)
    target.updatedAt = now()
    return created
  }

  const commentsOf = (target: Issue) => [...comments.values()].filter((comment) => comment.issue === target)

  const addReviewComment = (input: Omit<ReviewComment, "id" | "nodeId" | "reviewId" | "createdAt" | "updatedAt">) => {
    const id = nextId("reviewComment")
    const created: ReviewComment = {
      ...input,
      id,
      nodeId: nodeId("PullRequestReviewComment", id),
      reviewId: nextId("review"),
      createdAt: now(),
      updatedAt: now()
    }
    reviewComments.set(id, created)
    input.issue.updatedAt = now()
    return created
  }

  const sameSubject = (a: ReactionSubject, b: ReactionSubject) => a._tag === b._tag && a.id === b.id

  /** Adds a reaction; an identical one (same user, content, subject) is returned instead, like GitHub. */
  const react = (subject: ReactionSubject, user: Account, content: ReactionContent) => {
    const existing = reactions.find((reaction) =>
      sameSubject(reaction.subject, subject) && reaction.user.id === user.id && reaction.content === content
    )
    if (existing) return { reaction: existing, created: false }
    const id = nextId("reaction")
    const reaction: Reaction = { id, nodeId: nodeId("Reaction", id), user, content, createdAt: now(), subject }
    reactions.push(reaction)
    return { reaction, created: true }
  }

  const reactionsOf = (subject: ReactionSubject) =>
    reactions.filter((reaction) => sameSubject(reaction.subject, subject))

  const removeReaction = (subject: ReactionSubject, id: number) => {
    const index = reactions.findIndex((reaction) => reaction.id === id && sameSubject(reaction.subject, subject))
    if (index < 0) return false
    reactions.splice(index, 1)
    return true
  }

  return {
    addComment,
    comment: (id: number) => comments.get(id),
    comments: () => [...comments.values()],
    commentsOf,
    deleteComment: (id: number) => comments.delete(id),
    addReviewComment,
    reviewComment: (id: number) => reviewComments.get(id),
    reviewComments: () => [...reviewComments.values()],
    react,
    reactionsOf,
    removeReaction
  }
}

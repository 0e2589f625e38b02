/**
 * Reporter: what Porter writes on GitHub. Thin on purpose — reactions, comments created and edited
 * in place, labels — while the words come from `Messages`, so every adapter shows users the same
 * thing. Adapters: GitHub REST (`@porter/github`), the in-memory recorder (`@porter/testing`).
 */
import { Context } from "effect"
import type { Effect } from "effect"
import type { ReportError } from "./Errors.ts"
import type { IssueRef } from "./Repo.ts"
import type { TriggerKind } from "./Task.ts"

/** A reaction GitHub allows on a comment. */
export type Reaction = "eyes" | "rocket" | "+1" | "-1" | "confused" | "hooray" | "heart" | "laugh"

/** The comment a reaction goes on: its kind (issue or review comment) and id. */
export interface CommentTarget {
  readonly kind: TriggerKind
  readonly commentId: number
}

/** What Porter writes on GitHub. */
export class Reporter extends Context.Service<Reporter, {
  readonly react: (issue: IssueRef, target: CommentTarget, reaction: Reaction) => Effect.Effect<void, ReportError>
  /** Creates a comment on the issue (or pull request) conversation; returns its id. */
  readonly comment: (issue: IssueRef, body: string) => Effect.Effect<number, ReportError>
  readonly editComment: (issue: IssueRef, commentId: number, body: string) => Effect.Effect<void, ReportError>
  /** Adds and removes labels; removing an absent label is not an error. */
  readonly label: (
    issue: IssueRef,
    change: { readonly add: ReadonlyArray<string>; readonly remove: ReadonlyArray<string> }
  ) => Effect.Effect<void, ReportError>
}>()("@porter/core/Reporter") {}

/**
 * The Reporter and IssueReader contract. Reading back what was written is adapter-specific (the
 * GitHub emulator's REST API, the recorder), so the suite takes a `ReporterInspector`.
 */
import { assert, describe, layer as withLayer } from "@effect/vitest"
import { type IssueReader, type Repo, Reporter } from "@porter/core"
import { Context, Effect, Layer } from "effect"
import { GitHubRecorder } from "../RecordingReporter.ts"

/** Reads back what a `Reporter` wrote, so the suite can check it on any backend. */
export class ReporterInspector extends Context.Service<ReporterInspector, {
  /** An issue the reporter may write to (created fresh for each call). */
  readonly freshIssue: Effect.Effect<{ readonly issue: Repo.IssueRef; readonly triggerCommentId: number }>
  readonly comments: (
    issue: Repo.IssueRef
  ) => Effect.Effect<ReadonlyArray<{ readonly id: number; readonly body: string }>>
  readonly reactions: (issue: Repo.IssueRef, commentId: number) => Effect.Effect<ReadonlyArray<string>>
  readonly labels: (issue: Repo.IssueRef) => Effect.Effect<ReadonlyArray<string>>
}>()("@porter/testing/ReporterInspector") {}

/** Registers the `Reporter` contract's tests against `layer` (with its `ReporterInspector`). */
export const run = <E>(name: string, layer: Layer.Layer<Reporter.Reporter | ReporterInspector, E>) =>
  describe(`Reporter conformance: ${name}`, () => {
    withLayer(layer, { timeout: 60_000, excludeTestServices: true })((it) => {
      it.effect("creates a comment and edits it in place", () =>
        Effect.gen(function*() {
          const r = yield* Reporter.Reporter
          const inspect = yield* ReporterInspector
          const { issue } = yield* inspect.freshIssue
          const id = yield* r.comment(issue, "first text")
          yield* r.editComment(issue, id, "second text")
          const comments = (yield* inspect.comments(issue)).filter((c) => c.id === id)
          assert.strictEqual(comments.length, 1)
          assert.strictEqual(comments[0]!.body, "second text")
        }))

      it.effect("editing a comment that does not exist fails with ReportError", () =>
        Effect.gen(function*() {
          const r = yield* Reporter.Reporter
          const inspect = yield* ReporterInspector
          const { issue } = yield* inspect.freshIssue
          const error = yield* Effect.flip(r.editComment(issue, 987_654_321, "x"))
          assert.strictEqual(error._tag, "ReportError")
        }))

      it.effect("reacts to the triggering comment, once however often asked", () =>
        Effect.gen(function*() {
          const r = yield* Reporter.Reporter
          const inspect = yield* ReporterInspector
          const { issue, triggerCommentId } = yield* inspect.freshIssue
          yield* r.react(issue, { kind: "issue_comment", commentId: triggerCommentId }, "eyes")
          yield* r.react(issue, { kind: "issue_comment", commentId: triggerCommentId }, "eyes")
          const reactions = yield* inspect.reactions(issue, triggerCommentId)
          assert.deepStrictEqual(reactions, ["eyes"])
        }))

      it.effect("adds and removes labels; removing an absent label is fine", () =>
        Effect.gen(function*() {
          const r = yield* Reporter.Reporter
          const inspect = yield* ReporterInspector
          const { issue } = yield* inspect.freshIssue
          yield* r.label(issue, { add: ["porter:queued"], remove: ["porter:running"] })
          assert.include(yield* inspect.labels(issue), "porter:queued")
          yield* r.label(issue, { add: ["porter:running"], remove: ["porter:queued"] })
          const labels = yield* inspect.labels(issue)
          assert.include(labels, "porter:running")
          assert.notInclude(labels, "porter:queued")
        }))
    })
  })

/** The inspector over the in-memory recorder. */
export const recorderInspector: Layer.Layer<ReporterInspector, never, GitHubRecorder> = Layer.effect(
  ReporterInspector,
  Effect.gen(function*() {
    const recorder = yield* GitHubRecorder
    let n = 0
    const { IssueRef, RepoRef } = yield* Effect.promise(() => import("@porter/core").then((m) => m.Repo))
    return ReporterInspector.of({
      freshIssue: Effect.sync(() => ({
        issue: new IssueRef({ repo: new RepoRef({ owner: "conformance", name: "repo" }), number: ++n }),
        triggerCommentId: 10_000 + n
      })),
      comments: (issue) => recorder.comments(issue.key),
      reactions: (issue, commentId) =>
        Effect.map(
          recorder.reactions(issue.key),
          (list) => list.filter((r) => r.target.commentId === commentId).map((r) => r.reaction)
        ),
      labels: (issue) => recorder.labels(issue.key)
    })
  })
)

export type { IssueReader }

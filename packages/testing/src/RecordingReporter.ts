/**
 * A GitHub stand-in for tests: a Reporter that records what users would see (comments with their
 * edit history, reactions, labels), an IssueReader over seeded threads and pull requests, and
 * scriptable failures.
 */
import { Errors, Event, IssueReader, type Repo, Reporter } from "@porter/core"
import { Context, Effect, Layer, Option, Ref } from "effect"

/** A comment as users would see it: its text now and every edit. */
export interface RecordedComment {
  readonly id: number
  readonly issue: string
  /** Current text. */
  readonly body: string
  /** Every text it had, first to last. */
  readonly versions: ReadonlyArray<string>
}

/** A reaction Porter added. */
export interface RecordedReaction {
  readonly issue: string
  readonly target: Reporter.CommentTarget
  readonly reaction: Reporter.Reaction
}

/** A `Reporter` or `IssueReader` operation a failure can be scripted for (`failNext`). */
export type ReporterOp =
  | "react"
  | "comment"
  | "editComment"
  | "label"
  | "issue"
  | "thread"
  | "pullRequest"
  | "file"
  | "checkRuns"
  | "checkLog"

/** Controls and inspection for tests. */
export class GitHubRecorder extends Context.Service<GitHubRecorder, {
  /** Porter's comments on an issue (`owner/name#12`), in creation order. */
  readonly comments: (issue: string) => Effect.Effect<ReadonlyArray<RecordedComment>>
  readonly reactions: (issue: string) => Effect.Effect<ReadonlyArray<RecordedReaction>>
  readonly labels: (issue: string) => Effect.Effect<ReadonlyArray<string>>
  /** Every text Porter ever wrote anywhere (comments and their edits). */
  readonly allText: Effect.Effect<ReadonlyArray<string>>
  /** How many times Porter called `op` so far (failed calls included). */
  readonly calls: (op: ReporterOp) => Effect.Effect<number>
  /** The next `times` calls of `op` fail (like a GitHub 5xx). */
  readonly failNext: (op: ReporterOp, times: number, status?: number) => Effect.Effect<void>
  readonly seedThread: (issue: string, comments: ReadonlyArray<IssueReader.ThreadComment>) => Effect.Effect<void>
  /** What `IssueReader.issue` answers for `owner/name#n` (default: a title `Issue #n`, no body). */
  readonly seedIssue: (issue: string, snapshot: Event.IssueSnapshot) => Effect.Effect<void>
  readonly seedPullRequest: (repo: string, number: number, info: IssueReader.PullRequestInfo) => Effect.Effect<void>
  /** What `IssueReader.file` answers for `owner/name`'s `path` on `ref` (any ref when not given); absent: `None`. */
  readonly seedFile: (repo: string, path: string, content: string, ref?: string) => Effect.Effect<void>
  /**
   * Check runs of `owner/name` on each of `refs` (a branch and a SHA, say), with their logs: what `checkRuns` lists for
   * one of those refs or for the runs' check suite, and `checkLog` answers for an Actions job (another check's log is
   * its `output`, as on GitHub). Seeding a run's id again replaces it.
   */
  readonly seedChecks: (
    repo: string,
    refs: ReadonlyArray<string>,
    runs: ReadonlyArray<IssueReader.CheckRun & { readonly log?: string }>
  ) => Effect.Effect<void>
}>()("@porter/testing/GitHubRecorder") {}

interface State {
  nextId: number
  comments: Array<RecordedComment>
  reactions: Array<RecordedReaction>
  labels: Map<string, Set<string>>
  failures: Map<ReporterOp, { times: number; status: number }>
  calls: Map<ReporterOp, number>
  threads: Map<string, ReadonlyArray<IssueReader.ThreadComment>>
  issues: Map<string, Event.IssueSnapshot>
  pulls: Map<string, IssueReader.PullRequestInfo>
  /** `owner/name:path@ref` (`@*`: any ref) → text. */
  files: Map<string, string>
  checks: Array<{ readonly repo: string; readonly refs: ReadonlyArray<string>; readonly run: IssueReader.CheckRun }>
  /** Check run id → log. */
  logs: Map<number, string>
}

/** The recording reporter and its `GitHubRecorder` controls. */
export const make = Effect.gen(function*() {
  const state = yield* Ref.make<State>({
    nextId: 1000,
    comments: [],
    reactions: [],
    labels: new Map(),
    failures: new Map(),
    calls: new Map(),
    threads: new Map(),
    issues: new Map(),
    pulls: new Map(),
    files: new Map(),
    checks: [],
    logs: new Map()
  })

  const guard = (op: ReporterOp) =>
    Effect.flatMap(Ref.get(state), (s) => {
      s.calls.set(op, (s.calls.get(op) ?? 0) + 1)
      const failure = s.failures.get(op)
      if (!failure || failure.times <= 0) return Effect.void
      failure.times--
      return Effect.fail(
        new Errors.ReportError({ message: `injected ${op} failure (${failure.status})`, status: failure.status })
      )
    })

  const key = (issue: Repo.IssueRef) => issue.key

  const reporter = Reporter.Reporter.of({
    react: (issue, target, reaction) =>
      Effect.andThen(
        guard("react"),
        Ref.update(state, (s) => {
          const exists = s.reactions.some((r) =>
            r.issue === key(issue) && r.target.commentId === target.commentId && r.reaction === reaction
          )
          if (!exists) s.reactions.push({ issue: key(issue), target, reaction })
          return s
        })
      ),
    comment: (issue, body) =>
      Effect.andThen(
        guard("comment"),
        Ref.modify(state, (s) => {
          const id = s.nextId++
          s.comments.push({ id, issue: key(issue), body, versions: [body] })
          return [id, s]
        })
      ),
    editComment: (issue, commentId, body) =>
      Effect.andThen(
        guard("editComment"),
        Effect.flatMap(Ref.get(state), (s) => {
          const index = s.comments.findIndex((c) => c.id === commentId && c.issue === key(issue))
          if (index < 0) return Effect.fail(new Errors.ReportError({ message: `no comment ${commentId}`, status: 404 }))
          const old = s.comments[index]!
          s.comments[index] = { ...old, body, versions: [...old.versions, body] }
          return Effect.void
        })
      ),
    label: (issue, change) =>
      Effect.andThen(
        guard("label"),
        Ref.update(state, (s) => {
          const set = s.labels.get(key(issue)) ?? new Set<string>()
          for (const l of change.remove) set.delete(l)
          for (const l of change.add) set.add(l)
          s.labels.set(key(issue), set)
          return s
        })
      )
  })

  const reader = IssueReader.IssueReader.of({
    issue: (issue) =>
      Effect.andThen(
        guard("issue"),
        Effect.map(Ref.get(state), (s) =>
          s.issues.get(key(issue)) ??
            new Event.IssueSnapshot({ title: `Issue #${issue.number}`, body: "", state: "open" }))
      ),
    thread: (issue, limit) =>
      Effect.andThen(
        guard("thread"),
        Effect.map(Ref.get(state), (s) => (s.threads.get(key(issue)) ?? []).slice(-limit))
      ),
    pullRequest: (repo, number) =>
      Effect.andThen(
        guard("pullRequest"),
        Effect.flatMap(Ref.get(state), (s) => {
          const pr = s.pulls.get(`${repo.fullName}#${number}`)
          return pr
            ? Effect.succeed(pr)
            : Effect.fail(new Errors.ReportError({ message: `no pull request #${number}`, status: 404 }))
        })
      ),
    file: (repo, path, ref) =>
      Effect.andThen(
        guard("file"),
        Effect.map(Ref.get(state), (s) =>
          Option.fromNullishOr(
            s.files.get(`${repo.fullName}:${path}@${ref ?? "*"}`) ?? s.files.get(`${repo.fullName}:${path}@*`)
          ))
      ),
    checkRuns: (repo, target) =>
      Effect.andThen(
        guard("checkRuns"),
        Effect.map(Ref.get(state), (s) =>
          s.checks.filter((c) =>
            c.repo === repo.fullName &&
            ("ref" in target ? c.refs.includes(target.ref) : c.run.checkSuiteId === target.checkSuiteId)
          ).map((c) => c.run))
      ),
    checkLog: (_repo, run) =>
      Effect.andThen(
        guard("checkLog"),
        Effect.flatMap(Ref.get(state), (s) => {
          // As on GitHub: a check that is not an Actions job has no log but its own output.
          const log = run.actionsJob ? s.logs.get(run.id) : run.output
          return log !== undefined
            ? Effect.succeed(log)
            : Effect.fail(new Errors.ReportError({ message: `no log for check run ${run.id}`, status: 404 }))
        })
      )
  })

  const recorder = GitHubRecorder.of({
    comments: (issue) => Effect.map(Ref.get(state), (s) => s.comments.filter((c) => c.issue === issue)),
    reactions: (issue) => Effect.map(Ref.get(state), (s) => s.reactions.filter((r) => r.issue === issue)),
    labels: (issue) => Effect.map(Ref.get(state), (s) => [...(s.labels.get(issue) ?? [])].sort()),
    allText: Effect.map(Ref.get(state), (s) => s.comments.flatMap((c) => c.versions)),
    calls: (op) => Effect.map(Ref.get(state), (s) => s.calls.get(op) ?? 0),
    failNext: (op, times, status = 502) =>
      Ref.update(state, (s) => {
        s.failures.set(op, { times, status })
        return s
      }),
    seedThread: (issue, comments) =>
      Ref.update(state, (s) => {
        s.threads.set(issue, comments)
        return s
      }),
    seedIssue: (issue, snapshot) =>
      Ref.update(state, (s) => {
        s.issues.set(issue, snapshot)
        return s
      }),
    seedPullRequest: (repo, number, info) =>
      Ref.update(state, (s) => {
        s.pulls.set(`${repo}#${number}`, info)
        return s
      }),
    seedFile: (repo, path, content, ref) =>
      Ref.update(state, (s) => {
        s.files.set(`${repo}:${path}@${ref ?? "*"}`, content)
        return s
      }),
    seedChecks: (repo, refs, runs) =>
      Ref.update(state, (s) => {
        for (const { log, ...run } of runs) {
          s.checks = s.checks.filter((c) => c.run.id !== run.id)
          s.checks.push({ repo, refs, run })
          if (log !== undefined) s.logs.set(run.id, log)
        }
        return s
      })
  })
  return { reporter, reader, recorder }
})

/** `Reporter` and `IssueReader` that record what users would see, with the `GitHubRecorder` controls. */
export const layer: Layer.Layer<Reporter.Reporter | IssueReader.IssueReader | GitHubRecorder> = Layer.effectContext(
  Effect.map(make, ({ reader, recorder, reporter }) =>
    Context.make(Reporter.Reporter, reporter).pipe(
      Context.add(IssueReader.IssueReader, reader),
      Context.add(GitHubRecorder, recorder)
    ))
)

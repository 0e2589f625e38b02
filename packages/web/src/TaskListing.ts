/**
 * The task list a user sees: tasks of the repositories they can read, newest first, filtered by repository, state,
 * requester and agent, a page at a time (`before`: the last task of the previous page). Built on `TaskStore.list`
 * alone (newest first, per repository or across all), no query of its own:
 *
 * - a few repositories (at most `FAN_OUT`): one listing per repository, merged by task id (ids sort by creation);
 * - more: one listing across all tasks, keeping those of the user's repositories.
 *
 * Requester and agent are matched here, on pages read in batches, so a rare match may take several reads; after
 * `MAX_READS` the page ends early and `next` continues from where the reading stopped.
 */
import type { Errors, Ids, Task, TaskStore } from "@porter/core"
import { Effect } from "effect"

/** Which tasks to list: the repositories, state, requester, agent, page size, and where the page starts. */
export interface ListQuery {
  /** The repositories to list (`owner/name`): those the user may read, narrowed by the repository filter. */
  readonly repos: ReadonlyArray<string>
  readonly state?: Task.TaskState | undefined
  /** The requester's login (any case). */
  readonly user?: string | undefined
  readonly agent?: string | undefined
  readonly before?: Ids.TaskId | undefined
  readonly limit: number
}

/** A page of tasks and where the next one starts. */
export interface ListPage {
  readonly tasks: ReadonlyArray<Task.Task>
  /** Where the next page starts, when there is one. */
  readonly next?: Ids.TaskId | undefined
}

/** Up to this many repositories, one listing per repository; more, one listing across all. */
export const FAN_OUT = 8
/** The most store reads one page may take. */
export const MAX_READS = 40

interface Source {
  readonly repo: string | undefined
  buffer: Array<Task.Task>
  before: Ids.TaskId | undefined
  done: boolean
}

/** A page of the tasks `viewer` may read, newest first. */
export const list = (
  store: TaskStore.TaskStore["Service"],
  query: ListQuery
): Effect.Effect<ListPage, Errors.StoreError> =>
  Effect.gen(function*() {
    if (query.repos.length === 0) return { tasks: [] }
    const visible = new Set(query.repos.map((repo) => repo.toLowerCase()))
    const user = query.user?.toLowerCase()
    const agent = query.agent?.toLowerCase()
    const filtered = user !== undefined || agent !== undefined || query.repos.length > FAN_OUT
    const batch = filtered ? Math.min(200, Math.max(50, query.limit * 2)) : query.limit + 1
    const matches = (task: Task.Task) =>
      visible.has(task.repo.fullName.toLowerCase()) &&
      (user === undefined || task.requestedBy.login.toLowerCase() === user) &&
      (agent === undefined || task.agent.toLowerCase() === agent)

    const sources: Array<Source> = (query.repos.length > FAN_OUT ? [undefined] : query.repos).map((repo) => ({
      repo,
      buffer: [],
      before: query.before,
      done: false
    }))
    let reads = 0
    const fill = (source: Source) =>
      Effect.map(
        store.list({
          limit: batch,
          ...(source.repo !== undefined ? { repo: source.repo } : {}),
          ...(query.state !== undefined ? { state: query.state } : {}),
          ...(source.before !== undefined ? { before: source.before } : {})
        }),
        (tasks) => {
          source.buffer = [...tasks]
          source.done = tasks.length < batch
          source.before = tasks.at(-1)?.id ?? source.before
        }
      )

    const found: Array<Task.Task> = []
    let examined: Ids.TaskId | undefined
    while (found.length <= query.limit) {
      const empty = sources.filter((source) => source.buffer.length === 0 && !source.done)
      if (empty.length > 0) {
        if (reads + empty.length > MAX_READS) {
          // Out of reads: this page ends here; the next one goes on from the last task looked at.
          return { tasks: found, next: examined }
        }
        reads += empty.length
        yield* Effect.forEach(empty, fill, { concurrency: 4, discard: true })
      }
      let newest: Source | undefined
      for (const source of sources) {
        const head = source.buffer[0]
        if (head !== undefined && (newest === undefined || head.id > newest.buffer[0]!.id)) newest = source
      }
      if (newest === undefined) break
      const task = newest.buffer.shift()!
      examined = task.id
      if (matches(task)) found.push(task)
    }
    return found.length > query.limit
      ? { tasks: found.slice(0, query.limit), next: found[query.limit - 1]!.id }
      : { tasks: found }
  })

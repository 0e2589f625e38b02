/**
 * TaskStore in memory. Same contract as the D1 store (conformance suite), so users can test their
 * bots without a database. Operations are atomic: each is one synchronous `Ref` update, audit lines included.
 */
import { Errors, type Ids, Task, TaskStore } from "@porter/core"
import { Effect, Layer, Option, Ref } from "effect"

/** The `created` audit line's words, as the D1 trigger writes them. */
const createdDetail = (task: Task.Task) => `${task.agent} for @${task.requestedBy.login} (delivery ${task.deliveryId})`

interface Delivery {
  readonly id: Ids.DeliveryId
  readonly receivedAt: number
  /** Kept for retries only: dropped once the delivery is handled, as the SQL stores do. */
  payload: string
  attempts: number
  completedAt?: number
  /** When a leased retry last took it (`retryDeliveries` with `at`). */
  retriedAt?: number
}

interface State {
  readonly tasks: Map<string, Task.Task>
  readonly deliveries: Map<string, Delivery>
  readonly events: Map<string, Array<TaskStore.TaskEvent>>
  /** Task ids by request key (unique, like the SQL stores' index). */
  readonly requests: Map<string, string>
  /** When each notice was last posted. */
  readonly notices: Map<string, number>
}

const matches = (task: Task.Task, filter: TaskStore.ActiveFilter) =>
  (filter.repo === undefined || task.repo.fullName.toLowerCase() === filter.repo.toLowerCase()) &&
  (filter.issueNumber === undefined || task.issueNumber === filter.issueNumber) &&
  (filter.userId === undefined || task.requestedBy.id === filter.userId)

const newestFirst = (a: Task.Task, b: Task.Task) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0)

/** A `TaskStore` in memory: tasks, deliveries, slots and the audit trail (nothing survives the process). */
export const make: Effect.Effect<TaskStore.TaskStore["Service"]> = Effect.gen(function*() {
  const state = yield* Ref.make<State>({
    tasks: new Map(),
    deliveries: new Map(),
    events: new Map(),
    requests: new Map(),
    notices: new Map()
  })
  const read = <A>(f: (s: State) => A) => Effect.map(Ref.get(state), f)
  const record = (s: State, event: TaskStore.TaskEvent) => {
    const list = s.events.get(event.taskId) ?? []
    list.push(event)
    s.events.set(event.taskId, list)
  }

  type Failure = Errors.TaskNotFound | Errors.IllegalTransition
  const transition: TaskStore.TaskStore["Service"]["transition"] = (id, to, at, patch = {}) =>
    Effect.flatMap(Ref.get(state), (s): Effect.Effect<Task.Task, Failure> => {
      const task = s.tasks.get(id)
      if (task === undefined) return Effect.fail(new Errors.TaskNotFound({ taskId: id }))
      if (!Task.canTransition(task.state, to)) {
        return Effect.fail(new Errors.IllegalTransition({ taskId: id, from: task.state, to }))
      }
      const next = Task.applyTransition(task, to, at, patch)
      s.tasks.set(id, next)
      record(
        s,
        new TaskStore.TaskEvent({
          taskId: id,
          at,
          kind: "transition",
          from: task.state,
          to,
          ...(Task.isTerminal(to) && next.reason !== undefined ? { detail: next.reason } : {})
        })
      )
      return Effect.succeed(next)
    })

  return TaskStore.TaskStore.of({
    claimDelivery: ({ id, payload, receivedAt }) =>
      Effect.map(Ref.get(state), (s) => {
        if (s.deliveries.has(id)) return false
        s.deliveries.set(id, { id, payload, receivedAt, attempts: 1 })
        return true
      }),
    completeDelivery: (id, at) =>
      Effect.map(Ref.get(state), (s) => {
        const delivery = s.deliveries.get(id)
        if (delivery && delivery.completedAt === undefined) {
          delivery.completedAt = at
          delivery.payload = ""
        }
      }),
    retryDeliveries: (before, limit, at) =>
      Effect.map(Ref.get(state), (s) => {
        const due = [...s.deliveries.values()]
          .filter((d) =>
            d.completedAt === undefined && d.receivedAt < before && (d.retriedAt === undefined || d.retriedAt < before)
          )
          .sort((a, b) => a.receivedAt - b.receivedAt)
          .slice(0, limit)
        for (const d of due) {
          d.attempts++
          if (at !== undefined) d.retriedAt = at
        }
        return due.map((d) => ({ id: d.id, receivedAt: d.receivedAt, payload: d.payload, attempts: d.attempts }))
      }),
    create: (task, limits) =>
      Effect.map(Ref.get(state), (s): TaskStore.CreateResult => {
        const existing = s.tasks.get(task.id) ??
          (task.requestKey === undefined ? undefined : s.tasks.get(s.requests.get(task.requestKey) ?? ""))
        if (existing !== undefined) return { _tag: "Exists", task: existing }
        if (limits !== undefined) {
          const active = [...s.tasks.values()].filter((t) => !t.isTerminal)
          const inRepo = active.filter((t) => matches(t, { repo: task.repo.fullName })).length
          if (inRepo >= limits.perRepository) {
            return { _tag: "OverLimit", scope: "repository", limit: limits.perRepository }
          }
          const forUser = active.filter((t) => t.requestedBy.id === task.requestedBy.id).length
          if (forUser >= limits.perUser) return { _tag: "OverLimit", scope: "user", limit: limits.perUser }
        }
        s.tasks.set(task.id, task)
        if (task.requestKey !== undefined) s.requests.set(task.requestKey, task.id)
        record(s, new TaskStore.TaskEvent({ taskId: task.id, at: task.createdAt, kind: "transition", to: task.state }))
        record(
          s,
          new TaskStore.TaskEvent({ taskId: task.id, at: task.createdAt, kind: "created", detail: createdDetail(task) })
        )
        return { _tag: "Created", task }
      }),
    get: (id) =>
      Effect.flatMap(
        read((s) => s.tasks.get(id)),
        (task) => task ? Effect.succeed(task) : Effect.fail(new Errors.TaskNotFound({ taskId: id }))
      ),
    find: (id) => read((s) => Option.fromNullishOr(s.tasks.get(id))),
    transition,
    update: (id, patch, at, states = Task.ActiveStates) =>
      Effect.flatMap(Ref.get(state), (s): Effect.Effect<Task.Task, Failure> => {
        const task = s.tasks.get(id)
        if (task === undefined) return Effect.fail(new Errors.TaskNotFound({ taskId: id }))
        if (!states.includes(task.state)) {
          return Effect.fail(new Errors.IllegalTransition({ taskId: id, from: task.state, to: task.state }))
        }
        const next = new Task.Task({ ...task, ...patch, updatedAt: at })
        s.tasks.set(id, next)
        if (patch.machineId !== undefined && patch.machineId !== task.machineId) {
          record(s, new TaskStore.TaskEvent({ taskId: id, at, kind: "machine", detail: patch.machineId }))
        }
        return Effect.succeed(next)
      }),
    beginDispatch: (id, expected, at) =>
      Effect.map(Ref.get(state), (s) => {
        const task = s.tasks.get(id)
        if (
          task === undefined || (task.state !== "queued" && task.state !== "provisioning") ||
          task.dispatchAttempts !== expected
        ) return Option.none()
        const next = new Task.Task({ ...task, state: "provisioning", dispatchAttempts: expected + 1, updatedAt: at })
        s.tasks.set(id, next)
        if (task.state !== "provisioning") {
          record(
            s,
            new TaskStore.TaskEvent({ taskId: id, at, kind: "transition", from: task.state, to: "provisioning" })
          )
        }
        record(s, new TaskStore.TaskEvent({ taskId: id, at, kind: "dispatch", detail: `attempt ${expected + 1}` }))
        return Option.some(next)
      }),
    claimDue: (listed, at) =>
      Effect.map(Ref.get(state), (s) => {
        const task = s.tasks.get(listed.id)
        if (
          task === undefined || task.isTerminal || task.state !== listed.state ||
          task.updatedAt !== listed.updatedAt || task.dispatchAttempts !== listed.dispatchAttempts
        ) return Option.none()
        const next = new Task.Task({ ...task, updatedAt: at })
        s.tasks.set(task.id, next)
        return Option.some(next)
      }),
    admit: (listed, limits, at) =>
      Effect.map(Ref.get(state), (s): TaskStore.AdmitResult => {
        const id = listed.id
        const task = s.tasks.get(id)
        if (task === undefined || task.state !== "queued") return { _tag: "NotQueued" }
        const holding = [...s.tasks.values()].filter((t) => Task.holdsSlot(t.state))
        // An older task of the repository that could start now goes first.
        const older = [...s.tasks.values()].some((t) =>
          t.state === "queued" && t.id < task.id && matches(t, { repo: task.repo.fullName }) &&
          holding.filter((h) => h.requestedBy.id === t.requestedBy.id).length < limits.perUser &&
          !holding.some((h) => matches(h, { repo: t.repo.fullName, issueNumber: t.issueNumber }))
        )
        const inRepo = holding.filter((t) => matches(t, { repo: task.repo.fullName }))
        if (inRepo.length >= limits.perRepository) return { _tag: "Waiting", scope: "repository" }
        if (holding.filter((t) => t.requestedBy.id === task.requestedBy.id).length >= limits.perUser) {
          return { _tag: "Waiting", scope: "user" }
        }
        if (inRepo.some((t) => t.issueNumber === task.issueNumber)) return { _tag: "Waiting", scope: "issue" }
        if (older) return { _tag: "Waiting", scope: "queue" }
        const next = new Task.Task({ ...task, state: "provisioning", updatedAt: at, deadlineAt: at + task.timeoutMs })
        s.tasks.set(id, next)
        record(s, new TaskStore.TaskEvent({ taskId: id, at, kind: "transition", from: "queued", to: "provisioning" }))
        return { _tag: "Admitted", task: next }
      }),
    listQueued: (repo, limit) =>
      read((s) =>
        [...s.tasks.values()]
          .filter((t) => t.state === "queued" && (repo === undefined || matches(t, { repo })))
          .sort((a, b) => newestFirst(b, a))
          .slice(0, limit)
      ),
    claimNotice: (key, at, quietMs) =>
      Effect.map(Ref.get(state), (s) => {
        const last = s.notices.get(key)
        if (last !== undefined && last > at - quietMs) return false
        s.notices.set(key, at)
        return true
      }),
    countActive: (filter) =>
      read((s) => [...s.tasks.values()].filter((t) => !t.isTerminal && matches(t, filter)).length),
    listActive: (filter) =>
      read((s) => [...s.tasks.values()].filter((t) => !t.isTerminal && matches(t, filter)).sort(newestFirst)),
    listByIssue: (repo, issueNumber, limit) =>
      read((s) =>
        [...s.tasks.values()].filter((t) => matches(t, { repo, issueNumber })).sort(newestFirst).slice(0, limit)
      ),
    list: (options) =>
      read((s) =>
        [...s.tasks.values()]
          .filter((t) =>
            (options.state === undefined || t.state === options.state) &&
            (options.repo === undefined || t.repo.fullName.toLowerCase() === options.repo.toLowerCase()) &&
            (options.before === undefined || t.id < options.before)
          )
          .sort(newestFirst)
          .slice(0, options.limit)
      ),
    listDue: (now, options) =>
      read((s) =>
        [...s.tasks.values()]
          .filter((t) => {
            if (t.isTerminal) return false
            if (t.deadlineAt <= now) return true
            if (t.state === "running") {
              return (t.heartbeatAt ?? t.startedAt ?? t.updatedAt) <= now - options.heartbeatTimeoutMs
            }
            return t.state === "provisioning" && t.updatedAt <= now - options.dispatchTimeoutMs
          })
          .sort((a, b) => a.deadlineAt - b.deadlineAt)
          .slice(0, options.limit)
      ),
    appendEvent: (event) => Effect.map(Ref.get(state), (s) => record(s, event)),
    events: (id) => read((s) => [...(s.events.get(id) ?? [])])
  })
})

/** `TaskStore` in memory. */
export const layer: Layer.Layer<TaskStore.TaskStore> = Layer.effect(TaskStore.TaskStore, make)

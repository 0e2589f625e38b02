/**
 * What every run of the reliability suite must end with, checked on the stack as users and operators see it:
 *
 * - every task of the repository is in a terminal state;
 * - the issue was told: the task's status comment on the issue names the task and shows its terminal state;
 * - no machine is left running (the local machines server: every machine `destroyed`, or ended without a process,
 *   within 10 s of the check);
 * - the audit trail is whole: `created`, transitions forming one path from `queued` (or `awaiting_approval`, for an
 *   outsider's request) to the final state, every
 *   machine made for the task recorded (`machine`) and destroyed (`machine_destroyed` or `orphan_destroyed`), and one
 *   `callback` line for each callback the Worker received (counted at the callback proxy: answered, or answered and
 *   then lost on the way back);
 * - no request's work was dropped by workerd: the Worker's log has no "promise was resolved or rejected from a
 *   different request context" (workerd ended a request that another request's code was still to resume, and
 *   cancelled what followed; see `WorkerBackground`).
 */
import * as Local from "@porter/worker/local"
import { Effect } from "effect"
import { type AuditEvent, porterComments, Stack, taskById, tasks, type TaskView } from "./Stack.ts"

export interface Report {
  readonly tasks: number
  readonly byState: Readonly<Record<string, number>>
  readonly callbacksChecked: number
  readonly machinesChecked: number
  /** Everything that is wrong, one line each; empty when all holds. */
  readonly problems: ReadonlyArray<string>
}

const TERMINAL: Readonly<Record<string, string>> = { succeeded: "✅", failed: "❌", timed_out: "⏱", cancelled: "⏹" }
const RUNNING_MACHINE = ["created", "starting", "started", "stopping", "destroying"]

/**
 * Do the transitions form one path (awaiting_approval →) queued → … → `final`? Robust to events recorded in the same
 * millisecond.
 */
export const transitionPath = (events: ReadonlyArray<AuditEvent>, final: string): string | undefined => {
  const transitions = events.filter((e) => e.kind === "transition")
  const first = transitions.filter((e) => e.from === undefined)
  if (first.length !== 1 || (first[0]!.to !== "queued" && first[0]!.to !== "awaiting_approval")) {
    return `no single creation transition to queued or awaiting_approval (${first.length})`
  }
  const rest = transitions.filter((e) => e.from !== undefined)
  let state = first[0]!.to!
  const used = new Set<AuditEvent>()
  for (;;) {
    const next = rest.filter((e) => e.from === state && !used.has(e))
    if (next.length === 0) break
    if (next.length > 1) return `two transitions out of ${state}`
    used.add(next[0]!)
    state = next[0]!.to ?? "?"
  }
  if (used.size !== rest.length) return `${rest.length - used.size} transition(s) off the path`
  return state === final ? undefined : `the path ends in ${state}, the task is ${final}`
}

/** Checks the whole stack; the report lists every problem found. */
export const check = Effect.gen(function*() {
  const { callbackProxy, machines, workerLogs } = yield* Stack
  const all = yield* tasks
  const problems: Array<string> = []
  const byState: Record<string, number> = {}
  const exchanges = callbackProxy.exchanges()
  let callbacksChecked = 0
  const commentsByIssue = new Map<number, ReadonlyArray<{ readonly body: string }>>()
  for (const view of all) {
    byState[view.state] = (byState[view.state] ?? 0) + 1
    const id = view.id
    const marker = TERMINAL[view.state]
    if (marker === undefined) {
      problems.push(`${id}: still ${view.state}`)
      continue
    }
    if (!commentsByIssue.has(view.issueNumber)) {
      commentsByIssue.set(view.issueNumber, yield* porterComments(view.issueNumber))
    }
    const status = commentsByIssue.get(view.issueNumber)!.filter((c) => c.body.includes(`Task \`${id}\``))
    if (status.length !== 1) problems.push(`${id}: ${status.length} status comments on #${view.issueNumber}`)
    // A question's answer (💬) is how a succeeded question ends.
    else if (!status[0]!.body.startsWith(marker) && !(view.state === "succeeded" && status[0]!.body.startsWith("💬"))) {
      problems.push(`${id}: the issue was not told it is ${view.state} (status: ${status[0]!.body.split("\n")[0]})`)
    }

    const { events, task } = yield* taskById(id)
    if (!events.some((e) => e.kind === "created")) problems.push(`${id}: no "created" in the audit trail`)
    const path = transitionPath(events, task.state)
    if (path !== undefined) problems.push(`${id}: ${path}`)
    const machineIds = new Set(events.filter((e) => e.kind === "machine").map((e) => e.detail?.split(" ")[0] ?? ""))
    for (const machineId of machineIds) {
      const destroyed = events.some((e) =>
        (e.kind === "machine_destroyed" || e.kind === "orphan_destroyed") && e.detail?.startsWith(machineId)
      )
      if (!destroyed) problems.push(`${id}: machine ${machineId} has no machine_destroyed in the audit trail`)
    }
    const made = machines.machines().filter((m) => m.metadata["porter_task_id"] === id).map((m) => m.id)
    const untracked = made.filter((m) => !machineIds.has(m))
    if (untracked.length > 0) {
      problems.push(`${id}: machine(s) ${untracked.join(", ")} not in the audit trail (${made.length} made)`)
    }
    const received = exchanges.filter((x) =>
      x.method === "POST" && x.path === `/callbacks/tasks/${id}` &&
      (x.upstreamStatus === 200 || x.upstreamStatus === 409)
    ).length
    const audited = events.filter((e) => e.kind === "callback").length
    callbacksChecked += received
    if (audited !== received) problems.push(`${id}: ${received} callbacks answered, ${audited} in the audit trail`)
  }
  // A machine whose process just exited is still being destroyed for a moment.
  const running = () => machines.machines().filter((m) => RUNNING_MACHINE.includes(m.state))
  for (let waited = 0; running().length > 0 && waited < 10_000; waited += 100) yield* Effect.sleep("100 millis")
  const machineViews = machines.machines()
  for (const machine of machineViews) {
    if (RUNNING_MACHINE.includes(machine.state)) problems.push(`machine ${machine.id} is still ${machine.state}`)
  }
  const dropped = Local.droppedContinuations(workerLogs()).length
  if (dropped > 0) problems.push(`workerd dropped ${dropped} request(s)' continuations ("different request context")`)
  return {
    tasks: all.length,
    byState,
    callbacksChecked,
    machinesChecked: machineViews.length,
    problems
  } satisfies Report
})

/** `true` once every task is terminal (for `sweepUntil`). */
export const allTerminal = (expected?: number) =>
  Effect.map(
    tasks,
    (all: ReadonlyArray<TaskView>) =>
      (expected === undefined || all.length >= expected) && all.every((t) => TERMINAL[t.state] !== undefined)
  )

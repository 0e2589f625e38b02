import { assert, describe, it } from "@effect/vitest"
import { Task } from "@porter/core"
import { TaskStoreSuite } from "@porter/testing/conformance"
import { Effect, Exit } from "effect"
import * as fc from "fast-check"

const states = Task.TaskState.literals

describe("task state machine", () => {
  it("allows exactly the documented edges", () => {
    const legal = states.flatMap((from) =>
      states.filter((to) => Task.canTransition(from, to)).map((to) => `${from}>${to}`)
    )
    assert.deepStrictEqual(legal, [
      "awaiting_approval>queued",
      "awaiting_approval>failed",
      "awaiting_approval>timed_out",
      "awaiting_approval>cancelled",
      "queued>provisioning",
      "queued>failed",
      "queued>timed_out",
      "queued>cancelled",
      "provisioning>running",
      "provisioning>succeeded",
      "provisioning>failed",
      "provisioning>timed_out",
      "provisioning>cancelled",
      "running>succeeded",
      "running>failed",
      "running>timed_out",
      "running>cancelled"
    ])
  })

  it("sourcesOf is the inverse of canTransition", () => {
    for (const to of states) {
      for (const from of states) assert.strictEqual(Task.sourcesOf(to).includes(from), Task.canTransition(from, to))
    }
  })

  it.effect("no sequence of moves leaves a terminal state", () =>
    Effect.gen(function*() {
      const base = yield* TaskStoreSuite.sampleTask()
      fc.assert(
        fc.property(fc.array(fc.constantFrom(...states), { maxLength: 30 }), (moves) => {
          let task = base
          let terminalAt: Task.TaskState | undefined
          moves.forEach((to, i) => {
            const exit = Effect.runSyncExit(Task.transition(task, to, 2_000 + i))
            if (terminalAt !== undefined) {
              // Once terminal, every move is refused and the state never changes.
              assert.isTrue(Exit.isFailure(exit))
              return
            }
            if (Exit.isSuccess(exit)) {
              task = exit.value
              if (Task.isTerminal(task.state)) terminalAt = task.state
            } else {
              assert.isFalse(Task.canTransition(task.state, to))
            }
          })
          if (terminalAt !== undefined) assert.strictEqual(task.state, terminalAt)
        }),
        { numRuns: 2_000 }
      )
    }))

  it.effect("an illegal move is a typed error naming both states", () =>
    Effect.gen(function*() {
      const task = yield* TaskStoreSuite.sampleTask({ state: "succeeded" })
      const error = yield* Effect.flip(Task.transition(task, "running", 5))
      assert.strictEqual(error._tag, "IllegalTransition")
      assert.strictEqual(error.message, `task ${task.id} cannot move from succeeded to running`)
    }))

  it.effect("terminal transitions stamp finishedAt; running stamps startedAt", () =>
    Effect.gen(function*() {
      const task = yield* TaskStoreSuite.sampleTask({ state: "provisioning" })
      const running = yield* Task.transition(task, "running", 10)
      assert.strictEqual(running.startedAt, 10)
      const done = yield* Task.transition(running, "succeeded", 20)
      assert.strictEqual(done.finishedAt, 20)
      assert.strictEqual(done.startedAt, 10)
    }))
})

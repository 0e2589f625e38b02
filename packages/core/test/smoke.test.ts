import { assert, it } from "@effect/vitest"
import { Effect } from "effect"
import { Ids } from "@porter/core"
it.effect("smoke", () => Effect.gen(function*() { const id = yield* Ids.makeTaskId; assert.match(id, /^task_/) }))

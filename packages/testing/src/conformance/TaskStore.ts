/**
 * The TaskStore contract. Every adapter runs it: `TaskStoreSuite.run("D1", layer)`. Tests use
 * their own repositories and ids, so they can share one database. The tests live by concern in the `TaskStore*`
 * suites beside this module; `run` registers them all under one layer.
 */
import { describe, layer as withLayer } from "@effect/vitest"
import type { TaskStore } from "@porter/core"
import type { Layer } from "effect"
import * as TaskStoreAdmission from "./TaskStoreAdmission.ts"
import * as TaskStoreCreation from "./TaskStoreCreation.ts"
import * as TaskStoreDeliveries from "./TaskStoreDeliveries.ts"
import * as TaskStoreLifecycle from "./TaskStoreLifecycle.ts"
import * as TaskStoreListing from "./TaskStoreListing.ts"

export { sampleTask, uniqueRepo } from "./TaskStoreFixtures.ts"

/** Registers the `TaskStore` contract's tests against `layer`. */
export const run = <E>(name: string, layer: Layer.Layer<TaskStore.TaskStore, E>) =>
  describe(`TaskStore conformance: ${name}`, () => {
    withLayer(layer, { timeout: 60_000, excludeTestServices: true })((it) => {
      TaskStoreDeliveries.register(it)
      TaskStoreCreation.register(it)
      TaskStoreAdmission.register(it)
      TaskStoreLifecycle.register(it)
      TaskStoreListing.register(it)
    })
  })

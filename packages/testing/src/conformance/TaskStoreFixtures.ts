/**
 * What the TaskStore suites share: tasks on repositories of their own and a counter for unique ids, so every test
 * keeps to its own rows and the suites can run against one shared database.
 */
import type { Vitest } from "@effect/vitest"
import { Ids, Repo, Task, type TaskStore } from "@porter/core"
import { Effect } from "effect"

/** The tests' `it`, bound to the store under test (`TaskStoreSuite.run` builds its layer once for every suite). */
export type TaskStoreIt = Vitest.MethodsNonLive<TaskStore.TaskStore>

let serial = 0
/** A number no other call returns in this process (for ids of users and request keys). */
export const nextSerial = (): number => serial++

/** A repository no other test uses (stores shared by several tests stay apart). */
export const uniqueRepo = () =>
  new Repo.RepoRef({ owner: `conf-${Date.now().toString(36)}${nextSerial().toString(36)}`, name: "repo" })

/** A queued task on a unique repository, with `overrides`. */
export const sampleTask = (overrides: Partial<ConstructorParameters<typeof Task.Task>[0]> = {}) =>
  Effect.map(Ids.makeTaskId, (id) =>
    new Task.Task({
      id,
      state: "queued",
      repo: uniqueRepo(),
      issueNumber: 7,
      isPullRequest: false,
      requestedBy: new Repo.Actor({ login: "octocat", id: 583231, type: "User" }),
      triggerKind: "issue_comment",
      triggerCommentId: 42,
      deliveryId: `d-${id}` as Ids.DeliveryId,
      agent: "claude",
      instructions: "make the date parser accept ISO weeks",
      timeoutMs: 1_800_000,
      createdAt: 1_000,
      updatedAt: 1_000,
      deadlineAt: 1_801_000,
      dispatchAttempts: 0,
      ...overrides
    }))

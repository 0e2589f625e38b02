// The ArtifactStore conformance suite on secret gists, against the GitHub emulator (a user's token), and what the
// mirror leaves on GitHub: one secret gist per task, its address answered.
import { assert, describe, it } from "@effect/vitest"
import { afterAll } from "@effect/vitest"
import { ArtifactStore, Ids } from "@porter/core"
import { GistArtifactStore } from "@porter/github"
import { ArtifactStoreSuite } from "@porter/testing/conformance"
import { GitHubEmulator } from "@porter/testkit"
import { Effect, Option, Redacted } from "effect"

const emulator = await GitHubEmulator.startPromise()
afterAll(() => emulator.close())
const user = await emulator.createUser("mirror-bot")
const options = { token: Redacted.make(user.token), apiUrl: emulator.url }

ArtifactStoreSuite.run("secret gists (GitHub emulator)", GistArtifactStore.layer(options))

describe("the gist mirror", () => {
  it.effect("a task's artifacts share one secret gist, whose page is the answer", () =>
    Effect.gen(function*() {
      const store = yield* GistArtifactStore.make(options)
      const taskId = yield* Ids.makeTaskId
      const artifact = (kind: ArtifactStore.ArtifactKind, content: string) =>
        new ArtifactStore.Artifact({ taskId, kind, agent: "claude", name: kind, content, storedAt: Date.now() })
      const first = Option.getOrThrow(yield* store.put(artifact("transcript", "# said\n")))
      const second = Option.getOrThrow(yield* store.put(artifact("session", "{}\n")))
      assert.strictEqual(first, second)
      const gists = yield* Effect.promise(() =>
        GitHubEmulator.rest<ReadonlyArray<{ public: boolean; description: string; html_url: string }>>(
          user.token,
          "GET",
          `${emulator.url}/gists`
        )
      )
      const mine = gists.filter((gist) => gist.description === `Porter task ${taskId}`)
      assert.strictEqual(mine.length, 1)
      assert.isFalse(mine[0]!.public)
      assert.strictEqual(mine[0]!.html_url, first)
    }))

  it.live("GitHub down: every call fails with ArtifactError, quickly", () =>
    Effect.gen(function*() {
      const store = yield* GistArtifactStore.make({ ...options, apiUrl: "http://127.0.0.1:9" })
      const taskId = yield* Ids.makeTaskId
      const error = yield* Effect.flip(
        store.put(
          new ArtifactStore.Artifact({
            taskId,
            kind: "transcript",
            agent: "claude",
            name: "t",
            content: "x",
            storedAt: 1
          })
        )
      )
      assert.strictEqual(error._tag, "ArtifactError")
      assert.include(error.message, "the gist mirror failed")
    }))
})

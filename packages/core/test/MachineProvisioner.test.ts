// The rule every provider that lists its own machines answers `list` and `findByTask` with.
import { assert, describe, it } from "@effect/vitest"
import { MachineProvisioner } from "@porter/core"
import type { Ids } from "@porter/core"

const machine = (id: string, state: MachineProvisioner.MachineState, createdAt?: number) =>
  new MachineProvisioner.Machine({ id: id as Ids.MachineId, state, ...(createdAt === undefined ? {} : { createdAt }) })

describe("MachineProvisioner.liveOldestFirst", () => {
  it("leaves out the machines that are gone and puts the oldest first; those without a time keep their order", () => {
    const answer = MachineProvisioner.liveOldestFirst([
      machine("m-new", "started", 300),
      machine("m-destroyed", "destroyed", 100),
      machine("m-old", "stopped", 200),
      machine("m-destroying", "destroying", 50),
      machine("m-unknown-a", "created"),
      machine("m-failed", "failed", 250),
      machine("m-unknown-b", "starting")
    ])
    assert.deepStrictEqual(answer.map((m) => m.id), ["m-unknown-a", "m-unknown-b", "m-old", "m-failed", "m-new"])
  })
})

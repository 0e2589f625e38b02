// The MachineProvisioner contract: Fly against the local machines server, and the in-memory layer.
import { InMemoryProvisioner } from "@porter/testing"
import { MachineProvisionerSuite } from "@porter/testing/conformance"
import { localFly } from "./helpers.ts"

MachineProvisionerSuite.run("Fly + local machines server", localFly(), {
  // The fake runner idles until it is destroyed.
  spec: (taskId) => ({ env: { TASK_ID: taskId, FAKE_MACHINE: "sleep", PORTER_CONFORMANCE: "1" } })
})

MachineProvisionerSuite.run("in-memory", InMemoryProvisioner.layer)

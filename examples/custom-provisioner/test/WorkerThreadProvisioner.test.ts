import { WorkerThreadProvisioner } from "@porter-examples/custom-provisioner"
import { MachineProvisionerSuite } from "@porter/testing/conformance"

// The same contract Fly, Docker, local processes and the in-memory provisioner pass.
MachineProvisionerSuite.run(
  "worker threads (example)",
  WorkerThreadProvisioner.layer({ script: new URL("./idle.mjs", import.meta.url) })
)

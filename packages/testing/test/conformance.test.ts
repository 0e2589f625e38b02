// The in-memory layers pass the same suites as the real adapters.
import { Layer } from "effect"
import { Authorizer, Repo, Settings } from "@porter/core"
import {
  AuthorizerSuite,
  InMemoryProvisioner,
  InMemorySecretStore,
  InMemoryTaskStore,
  MachineProvisionerSuite,
  RecordingReporter,
  ReporterSuite,
  SecretStoreSuite,
  SettingsSuite,
  TaskStoreSuite
} from "@porter/testing"

TaskStoreSuite.run("in-memory", InMemoryTaskStore.layer)
SecretStoreSuite.run("in-memory", InMemorySecretStore.layer())
SettingsSuite.run("in-memory", Settings.layerMemory())
MachineProvisionerSuite.run("in-memory", InMemoryProvisioner.layer)
ReporterSuite.run("in-memory recorder", ReporterSuite.recorderInspector.pipe(Layer.provideMerge(RecordingReporter.layer)))
AuthorizerSuite.run(
  "permission table",
  Authorizer.layerTable({ alice: "admin", bob: "write", carol: "read" }),
  {
    repo: new Repo.RepoRef({ owner: "octo-org", name: "hello-world" }),
    admin: new Repo.Actor({ login: "alice", id: 1, type: "User" }),
    write: new Repo.Actor({ login: "bob", id: 2, type: "User" }),
    read: new Repo.Actor({ login: "carol", id: 3, type: "User" }),
    none: new Repo.Actor({ login: "mallory", id: 4, type: "User" })
  }
)

/**
 * @porter/testing — in-memory layers for every Porter service, fixtures, and the conformance
 * suites every adapter runs.
 */
export * as AuthorizerSuite from "./conformance/Authorizer.ts"
export * as MachineProvisionerSuite from "./conformance/MachineProvisioner.ts"
export * as ReporterSuite from "./conformance/Reporter.ts"
export * as RepoWriterSuite from "./conformance/RepoWriter.ts"
export * as SecretStoreSuite from "./conformance/SecretStore.ts"
export * as SettingsSuite from "./conformance/Settings.ts"
export * as TaskStoreSuite from "./conformance/TaskStore.ts"
export * as TokenStoreSuite from "./conformance/TokenStore.ts"
export * as UsageStoreSuite from "./conformance/UsageStore.ts"
export * as Fixtures from "./Fixtures.ts"
export * as InMemoryProvisioner from "./InMemoryProvisioner.ts"
export { Machines } from "./InMemoryProvisioner.ts"
export * as InMemoryRepoWriter from "./InMemoryRepoWriter.ts"
export { Repositories } from "./InMemoryRepoWriter.ts"
export * as InMemorySecretStore from "./InMemorySecretStore.ts"
export * as InMemoryTaskStore from "./InMemoryTaskStore.ts"
export * as InMemoryUsageStore from "./InMemoryUsageStore.ts"
export * as RecordingReporter from "./RecordingReporter.ts"
export { GitHubRecorder } from "./RecordingReporter.ts"
export * as TestPorter from "./TestPorter.ts"

/**
 * @porter/testing — in-memory layers for every Porter service, `TestPorter`, fixtures and signed webhook deliveries.
 * Needs nothing but `effect` and Porter's packages; the conformance suites (which need `@effect/vitest`) are at
 * `@porter/testing/conformance`.
 */
export * as Fixtures from "./Fixtures.ts"
export * as InMemoryArtifactStore from "./InMemoryArtifactStore.ts"
export * as InMemoryProvisioner from "./InMemoryProvisioner.ts"
export { Machines } from "./InMemoryProvisioner.ts"
export * as InMemoryRepoWriter from "./InMemoryRepoWriter.ts"
export { Repositories } from "./InMemoryRepoWriter.ts"
export * as InMemorySecretStore from "./InMemorySecretStore.ts"
export * as InMemoryTaskStore from "./InMemoryTaskStore.ts"
export * as InMemoryUsageStore from "./InMemoryUsageStore.ts"
export * as RecordingReporter from "./RecordingReporter.ts"
export { GitHubRecorder } from "./RecordingReporter.ts"
export * as SignedDelivery from "./SignedDelivery.ts"
export * as TestPorter from "./TestPorter.ts"

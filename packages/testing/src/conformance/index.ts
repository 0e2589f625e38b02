/**
 * @porter/testing/conformance — the suites every adapter of a Porter port runs, in-memory ones included. Each is a
 * function `run(name, layer, …)` that registers `@effect/vitest` tests, so this entry needs `vitest` and
 * `@effect/vitest` (optional peer dependencies of @porter/testing); the main entry never loads it.
 */
export * as ArtifactStoreSuite from "./ArtifactStore.ts"
export * as AuthorizerSuite from "./Authorizer.ts"
export * as MachineProvisionerSuite from "./MachineProvisioner.ts"
export * as ReporterSuite from "./Reporter.ts"
export * as RepoWriterSuite from "./RepoWriter.ts"
export * as SecretStoreSuite from "./SecretStore.ts"
export * as SettingsSuite from "./Settings.ts"
export * as TaskStoreSuite from "./TaskStore.ts"
export * as TokenStoreSuite from "./TokenStore.ts"
export * as UsageStoreSuite from "./UsageStore.ts"

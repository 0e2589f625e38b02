/**
 * @porter/sql — Porter's stores on effect's `SqlClient`, one implementation for SQLite (Node's `node:sqlite`,
 * Cloudflare D1) and PostgreSQL: the task store, the encrypted secret store with key rotation, settings, the model
 * gateway's usage (metering and budgets), task artifacts (sessions, transcripts), and the
 * migrator that applies each dialect's schema under a lock. Platform neutral; the Node drivers (SQLite file,
 * PostgreSQL server) and the assembled storage layers are in `@porter/sql/node`, the migration files on disk in
 * `@porter/sql/files`, a throwaway PostgreSQL server for tests in `@porter/sql/testing`.
 */
export * as EncryptionKeys from "./EncryptionKeys.ts"
export * as MigrationText from "./MigrationText.ts"
export * as Migrator from "./Migrator.ts"
export * as SqlArtifactStore from "./SqlArtifactStore.ts"
export * as SqlSecretStore from "./SqlSecretStore.ts"
export * as SqlSettings from "./SqlSettings.ts"
export * as SqlTaskStore from "./SqlTaskStore.ts"
export * as SqlUsageStore from "./SqlUsageStore.ts"

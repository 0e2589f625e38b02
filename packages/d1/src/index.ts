/**
 * @porter/d1 — Porter's storage on Cloudflare D1: the task store, the encrypted secret store and
 * settings, over `@effect/sql-d1`. Schema: `migrations/` at the repository root. Node-only test
 * helpers (a migrated local D1 through Miniflare) live in `@porter/d1/testing`.
 */
export * as D1SecretStore from "./D1SecretStore.ts"
export * as D1Settings from "./D1Settings.ts"
export * as D1Storage from "./D1Storage.ts"
export * as D1TaskStore from "./D1TaskStore.ts"
export * as EncryptionKeys from "./EncryptionKeys.ts"
export * as Migrations from "./Migrations.ts"

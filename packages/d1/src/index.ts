/**
 * @porter/d1 — Porter's storage on Cloudflare D1: the task store, the encrypted secret store and
 * settings, over `@effect/sql-d1`. The stores are `@porter/sql`'s (one implementation for D1, SQLite on Node and
 * PostgreSQL); this package adds the D1 binding's shortcuts, wrangler-compatible migrations and the Worker's layer.
 * Schema: `migrations/` at the repository root. Node-only test helpers (a migrated local D1 through Miniflare) live
 * in `@porter/d1/testing`.
 */
import { EncryptionKeys } from "@porter/sql"
export * as D1SecretStore from "./D1SecretStore.ts"
export * as D1Settings from "./D1Settings.ts"
export * as D1Storage from "./D1Storage.ts"
export * as D1TaskStore from "./D1TaskStore.ts"
export * as Migrations from "./Migrations.ts"

/** The secret store's keys (`@porter/sql`'s `EncryptionKeys`). */
export { EncryptionKeys }

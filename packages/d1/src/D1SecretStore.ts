/**
 * `SecretStore` on Cloudflare D1: `@porter/sql`'s `SqlSecretStore` (AES-256-GCM in the Worker, key rotation), under
 * its earlier names. `D1SecretStore` is the same service as `SqlSecretStore`.
 *
 * Cannot: decrypt rows whose key is no longer configured, or hide which names exist (names and scopes are plaintext).
 */
import { SqlSecretStore } from "@porter/sql"

/** The D1 secret store: the `SecretStore` port plus key rotation (`SqlSecretStore`). */
export const D1SecretStore: typeof SqlSecretStore.SqlSecretStore = SqlSecretStore.SqlSecretStore
/** The D1 secret store's service: `SqlSecretStore`'s. */
export type D1SecretStore = SqlSecretStore.SqlSecretStore

/** How a key rotation runs (`SqlSecretStore.RotateOptions`). */
export type RotateOptions = SqlSecretStore.RotateOptions
/** What a key rotation re-encrypted (`SqlSecretStore.RotationReport`). */
export type RotationReport = SqlSecretStore.RotationReport

/** The AES-GCM associated data of a secret: its scope, name and key id (`SqlSecretStore.associatedData`). */
export const associatedData: typeof SqlSecretStore.associatedData = SqlSecretStore.associatedData
/** The secret store over a `SqlClient` and the configured keys (`SqlSecretStore.make`). */
export const make: typeof SqlSecretStore.make = SqlSecretStore.make
/** The secret store with explicit keys (`SqlSecretStore.makeWithKeys`). */
export const makeWithKeys: typeof SqlSecretStore.makeWithKeys = SqlSecretStore.makeWithKeys
/** The secret store from explicit keys (`SqlSecretStore.layer`). */
export const layer: typeof SqlSecretStore.layer = SqlSecretStore.layer
/** The secret store with its keys from configuration (`SqlSecretStore.layerConfig`). */
export const layerConfig: typeof SqlSecretStore.layerConfig = SqlSecretStore.layerConfig

/**
 * `SecretStore` on Cloudflare D1: `@porter/sql`'s `SqlSecretStore` (AES-256-GCM in the Worker, key rotation), under
 * its earlier names. `D1SecretStore` is the same service as `SqlSecretStore`.
 *
 * Cannot: decrypt rows whose key is no longer configured, or hide which names exist (names and scopes are plaintext).
 */
import { SqlSecretStore } from "@porter/sql"

/** The D1 secret store: the `SecretStore` port plus key rotation (`SqlSecretStore`). */
export const D1SecretStore: typeof SqlSecretStore.SqlSecretStore = SqlSecretStore.SqlSecretStore
export type D1SecretStore = SqlSecretStore.SqlSecretStore

export type RotateOptions = SqlSecretStore.RotateOptions
export type RotationReport = SqlSecretStore.RotationReport

export const associatedData: typeof SqlSecretStore.associatedData = SqlSecretStore.associatedData
export const make: typeof SqlSecretStore.make = SqlSecretStore.make
export const makeWithKeys: typeof SqlSecretStore.makeWithKeys = SqlSecretStore.makeWithKeys
export const layer: typeof SqlSecretStore.layer = SqlSecretStore.layer
export const layerConfig: typeof SqlSecretStore.layerConfig = SqlSecretStore.layerConfig

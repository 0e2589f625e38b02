/**
 * `Settings` on Cloudflare D1: `@porter/sql`'s `SqlSettings` (per-isolate read cache, 30 s by default), under its
 * earlier names.
 *
 * Cannot: see writes made by other isolates before the cache entry expires.
 */
import { SqlSettings } from "@porter/sql"

/** The settings store's options: cache time and defaults (`SqlSettings.SqlSettingsOptions`). */
export type D1SettingsOptions = SqlSettings.SqlSettingsOptions

/** `Settings` over a `SqlClient` (`SqlSettings.make`). */
export const make: typeof SqlSettings.make = SqlSettings.make
/** `Settings` over a `SqlClient`, with options (`SqlSettings.layer`). */
export const layer: typeof SqlSettings.layer = SqlSettings.layer
/** `Settings` over a `SqlClient`, from configuration (`SqlSettings.layerConfig`). */
export const layerConfig: typeof SqlSettings.layerConfig = SqlSettings.layerConfig

/**
 * `Settings` on Cloudflare D1: `@porter/sql`'s `SqlSettings` (per-isolate read cache, 30 s by default), under its
 * earlier names.
 *
 * Cannot: see writes made by other isolates before the cache entry expires.
 */
import { SqlSettings } from "@porter/sql"

export type D1SettingsOptions = SqlSettings.SqlSettingsOptions

export const make: typeof SqlSettings.make = SqlSettings.make
export const layer: typeof SqlSettings.layer = SqlSettings.layer
export const layerConfig: typeof SqlSettings.layerConfig = SqlSettings.layerConfig

// The foundation's conformance suites against the D1 adapters on a real local D1 (workerd via
// Miniflare, migrations applied). The in-memory layers run the same suites in packages/testing.
import { afterAll } from "@effect/vitest"
import { D1SecretStore, D1Settings, D1TaskStore, EncryptionKeys } from "@porter/d1"
import { SqlUsageStore } from "@porter/sql"
import { SecretStoreSuite, SettingsSuite, TaskStoreSuite, UsageStoreSuite } from "@porter/testing/conformance"
import { Layer, Redacted } from "effect"
import { clientLayer, start } from "./utils.ts"

// One workerd for the four suites (they use their own ids and repositories, so they can share).
const d1 = await start()
afterAll(() => d1.dispose())

const keys = { current: { id: "k1", key: Redacted.make(EncryptionKeys.generate()) } }

TaskStoreSuite.run("D1 (Miniflare)", D1TaskStore.layer.pipe(Layer.provide(clientLayer(d1.db))))
SecretStoreSuite.run("D1 encrypted (Miniflare)", D1SecretStore.layer(keys).pipe(Layer.provide(clientLayer(d1.db))))
SettingsSuite.run("D1 (Miniflare)", D1Settings.layer().pipe(Layer.provide(clientLayer(d1.db))))
UsageStoreSuite.run("D1 (Miniflare)", SqlUsageStore.layer.pipe(Layer.provide(clientLayer(d1.db))))

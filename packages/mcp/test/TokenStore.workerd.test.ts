// The personal-token store's conformance on a real local D1 (workerd via Miniflare, migrations applied), through the
// SqlTokenStore the Worker runs.
import { D1Client } from "@effect/sql-d1"
import { afterAll } from "@effect/vitest"
import * as D1Testing from "@porter/d1/testing"
import { TokenStoreSuite } from "@porter/testing/conformance"
import { SqlTokenStore } from "@porter/web"
import { Layer } from "effect"

const d1 = await D1Testing.startMiniflareD1()
afterAll(() => d1.dispose())

TokenStoreSuite.run(
  "D1 (Miniflare)",
  SqlTokenStore.layer.pipe(Layer.provide(Layer.orDie(D1Client.layer({ db: d1.db }))))
)

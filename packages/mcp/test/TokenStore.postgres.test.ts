// The personal-token store's conformance on a real PostgreSQL server (started for this file, migrations/postgres/
// applied), through the same SqlTokenStore as SQLite and D1.
import { afterAll } from "@effect/vitest"
import { NodeStorage } from "@porter/sql/node"
import * as TestPostgres from "@porter/sql/testing"
import { TokenStoreSuite } from "@porter/testing/conformance"
import { SqlTokenStore } from "@porter/web"
import { Layer, Redacted } from "effect"

const server = await TestPostgres.startPromise()
afterAll(() => server.stop())

TokenStoreSuite.run(
  "PostgreSQL",
  SqlTokenStore.layer.pipe(
    Layer.provide(Layer.effectDiscard(NodeStorage.migrate())),
    Layer.provideMerge(NodeStorage.clientLayer({ _tag: "postgres", url: Redacted.make(server.url) })),
    Layer.orDie
  )
)

// The foundation's conformance suites against the SQL stores on a real PostgreSQL server (started for this file in a
// temporary directory, migrations/postgres/ applied at start). SQLite runs the same suites: conformance.test.ts.
import { afterAll } from "@effect/vitest"
import { EncryptionKeys } from "@porter/sql"
import { NodeStorage } from "@porter/sql/node"
import * as TestPostgres from "@porter/sql/testing"
import { SecretStoreSuite, SettingsSuite, TaskStoreSuite, UsageStoreSuite } from "@porter/testing/conformance"
import { Redacted } from "effect"
import * as SqlSuite from "./support/SqlSuite.ts"

const server = await TestPostgres.startPromise()
afterAll(() => server.stop())

// One database for the three suites (they use their own ids and repositories), one pool per suite.
const storage = NodeStorage.layer({
  database: { _tag: "postgres", url: Redacted.make(server.url) },
  keys: { current: { id: "k1", key: Redacted.make(EncryptionKeys.generate()) } }
})

TaskStoreSuite.run("PostgreSQL", storage)
SecretStoreSuite.run("PostgreSQL encrypted", storage)
SettingsSuite.run("PostgreSQL", storage)
UsageStoreSuite.run("PostgreSQL", storage)

let databases = 0
SqlSuite.run("PostgreSQL", {
  fresh: async () =>
    NodeStorage.clientLayer({
      _tag: "postgres",
      url: Redacted.make(await server.createDatabase(`fresh_${databases++}`))
    })
})

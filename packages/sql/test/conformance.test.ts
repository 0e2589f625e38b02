// The foundation's conformance suites against the SQL stores on SQLite (node:sqlite, one file in a temporary
// directory, migrations/ applied at start). PostgreSQL runs the same suites: conformance.postgres.test.ts.
import { afterAll } from "@effect/vitest"
import { EncryptionKeys } from "@porter/sql"
import { NodeStorage } from "@porter/sql/node"
import { SecretStoreSuite, SettingsSuite, TaskStoreSuite, UsageStoreSuite } from "@porter/testing/conformance"
import { Redacted } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as SqlSuite from "./support/SqlSuite.ts"

const dir = mkdtempSync(join(tmpdir(), "porter-sqlite-conformance-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

// One database file for the three suites (they use their own ids and repositories), one connection per suite.
const storage = NodeStorage.layer({
  database: { _tag: "sqlite", filename: join(dir, "porter.db") },
  keys: { current: { id: "k1", key: Redacted.make(EncryptionKeys.generate()) } }
})

TaskStoreSuite.run("SQLite (node:sqlite)", storage)
SecretStoreSuite.run("SQLite encrypted (node:sqlite)", storage)
SettingsSuite.run("SQLite (node:sqlite)", storage)
UsageStoreSuite.run("SQLite (node:sqlite)", storage)

let files = 0
SqlSuite.run("SQLite (node:sqlite)", {
  fresh: () => Promise.resolve(NodeStorage.clientLayer({ _tag: "sqlite", filename: join(dir, `fresh-${files++}.db`) }))
})

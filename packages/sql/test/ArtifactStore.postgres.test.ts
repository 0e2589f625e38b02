// The ArtifactStore conformance suite on a real PostgreSQL server (migrations/postgres/ applied at start).
import { afterAll } from "@effect/vitest"
import { EncryptionKeys } from "@porter/sql"
import { NodeStorage } from "@porter/sql/node"
import * as TestPostgres from "@porter/sql/testing"
import { ArtifactStoreSuite } from "@porter/testing/conformance"
import { Redacted } from "effect"

const server = await TestPostgres.startPromise()
afterAll(() => server.stop())

ArtifactStoreSuite.run(
  "PostgreSQL",
  NodeStorage.layer({
    database: { _tag: "postgres", url: Redacted.make(server.url) },
    keys: { current: { id: "k1", key: Redacted.make(EncryptionKeys.generate()) } }
  })
)

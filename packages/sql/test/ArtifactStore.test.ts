// The ArtifactStore conformance suite on SQLite (node:sqlite, migrations/ applied), on files in a directory, and in
// memory. PostgreSQL runs it in ArtifactStore.postgres.test.ts, D1 in packages/d1.
import * as NodeServices from "@effect/platform-node/NodeServices"
import { afterAll } from "@effect/vitest"
import { EncryptionKeys } from "@porter/sql"
import { FileArtifactStore, NodeStorage } from "@porter/sql/node"
import { InMemoryArtifactStore } from "@porter/testing"
import { ArtifactStoreSuite } from "@porter/testing/conformance"
import { Layer, Redacted } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const dir = mkdtempSync(join(tmpdir(), "porter-artifacts-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

ArtifactStoreSuite.run(
  "SQLite (node:sqlite)",
  NodeStorage.layer({
    database: { _tag: "sqlite", filename: join(dir, "porter.db") },
    keys: { current: { id: "k1", key: Redacted.make(EncryptionKeys.generate()) } }
  })
)
ArtifactStoreSuite.run(
  "files",
  FileArtifactStore.layer({ dir: join(dir, "artifacts") }).pipe(Layer.provide(NodeServices.layer))
)
ArtifactStoreSuite.run("in-memory", InMemoryArtifactStore.layer)

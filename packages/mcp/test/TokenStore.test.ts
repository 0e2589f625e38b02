// The personal-token store's conformance: in memory, and on SQLite (node:sqlite, migrations/ applied) through the same
// SqlTokenStore the Worker runs on D1 (TokenStore.workerd.test.ts).
import { afterAll } from "@effect/vitest"
import { NodeStorage } from "@porter/sql/node"
import { TokenStoreSuite } from "@porter/testing/conformance"
import { SqlTokenStore, TokenStore } from "@porter/web"
import { Layer } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const dir = mkdtempSync(join(tmpdir(), "porter-tokens-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

TokenStoreSuite.run("in-memory", TokenStore.layerMemory)
TokenStoreSuite.run(
  "SQLite (node:sqlite)",
  SqlTokenStore.layer.pipe(
    Layer.provide(Layer.effectDiscard(NodeStorage.migrate())),
    Layer.provideMerge(NodeStorage.clientLayer({ _tag: "sqlite", filename: join(dir, "porter.db") })),
    Layer.orDie
  )
)

#!/usr/bin/env node
// The package's own copy of the repository's migrations, for `npm pack`: `copy` (prepack) puts `migrations/` (SQLite
// and D1) and `migrations/postgres/` into packages/sql/migrations, where an installed @porter/sql reads them
// (`MigrationFiles`); `remove` (postpack) deletes the copy again, so a checkout always reads the repository's files.
// Usage: node scripts/migrations.mjs copy|remove
import { cpSync, rmSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const pkg = resolve(dirname(fileURLToPath(import.meta.url)), "..")
const copy = join(pkg, "migrations")
const action = process.argv[2]
rmSync(copy, { recursive: true, force: true })
if (action === "copy") {
  cpSync(join(pkg, "..", "..", "migrations"), copy, { recursive: true, filter: (src) => !src.endsWith(".md") })
} else if (action !== "remove") {
  console.error("usage: node scripts/migrations.mjs copy|remove")
  process.exitCode = 2
}

// The migrations split like SQLite (and wrangler) split them. Applying them on a local D1, and compatibility with
// `wrangler d1 migrations apply --local` in both directions: Migrations.workerd.test.ts.
import { assert, describe, it } from "@effect/vitest"
import { Migrations } from "@porter/d1"
import * as D1Testing from "@porter/d1/testing"
import { readFile } from "node:fs/promises"
import { join } from "node:path"

describe("Migrations.splitStatements", () => {
  it("keeps a trigger body whole and ignores semicolons in comments and strings", () => {
    const statements = Migrations.splitStatements(`
      -- a comment; with a semicolon
      CREATE TABLE a (x TEXT DEFAULT 'it''s; fine');
      /* block; comment */
      CREATE TRIGGER t AFTER INSERT ON a BEGIN
        INSERT INTO a (x) VALUES ('one;');
        SELECT RAISE(ABORT, 'two; three');
      END;
      CREATE INDEX i ON a (x)
    `)
    assert.strictEqual(statements.length, 3)
    assert.match(statements[0]!, /^-- a comment; with a semicolon\s+CREATE TABLE a \(x TEXT DEFAULT 'it''s; fine'\)$/)
    assert.match(statements[1]!, /^\/\* block; comment \*\/\s+CREATE TRIGGER t .* END$/s)
    assert.strictEqual(statements[2], "CREATE INDEX i ON a (x)")
  })

  it("splits the shipped schema into the objects it creates", async () => {
    const text = await readFile(join(D1Testing.migrationsDir, "0001_init.sql"), "utf8")
    const statements = Migrations.splitStatements(text)
    const created = text.match(/^CREATE (TABLE|INDEX|TRIGGER) /gm) ?? []
    assert.strictEqual(statements.length, created.length)
    for (const statement of statements) assert.match(statement.replace(/^(?:\s*--[^\n]*\n)*\s*/, ""), /^CREATE /)
  })
})

// One migrated local D1 (workerd via Miniflare) per test file, and ways to look at it raw.
import type { D1Database } from "@cloudflare/workers-types"
import { D1Client } from "@effect/sql-d1"
import * as D1Testing from "@porter/d1/testing"
import { Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"

/** `D1Client` + `SqlClient` on `db` (a second call gives a second, independent client: another isolate). */
export const clientLayer = (db: D1Database) => D1Client.layer({ db }).pipe(Layer.orDie)

/** A binding that records every statement the driver runs (text and last bound values), so tests can EXPLAIN them. */
export const recording = (db: D1Database) => {
  const seen: Array<{ readonly query: string; params: ReadonlyArray<unknown> }> = []
  const wrapped = new Proxy(db, {
    get(target, property) {
      if (property === "prepare") {
        return (query: string) => {
          const entry = { query, params: [] as ReadonlyArray<unknown> }
          seen.push(entry)
          const statement = target.prepare(query)
          return new Proxy(statement, {
            get(inner, name) {
              if (name === "bind") {
                return (...params: Array<unknown>) => {
                  entry.params = params
                  return inner.bind(...params)
                }
              }
              const value = Reflect.get(inner, name)
              return typeof value === "function" ? value.bind(inner) : value
            }
          })
        }
      }
      const value = Reflect.get(target, property)
      return typeof value === "function" ? value.bind(target) : value
    }
  })
  return { db: wrapped, seen }
}

/** `EXPLAIN QUERY PLAN` details of one statement with its parameters. */
export const explain = (db: D1Database, query: string, params: ReadonlyArray<unknown> = []) =>
  Effect.promise(() => db.prepare(`EXPLAIN QUERY PLAN ${query}`).bind(...params).all<{ detail: string }>()).pipe(
    Effect.map((result) => result.results.map((row) => row.detail))
  )

/** Raw rows, bypassing the stores (for tampering and for checking what is really stored). */
export const raw = <A extends object>(strings: TemplateStringsArray, ...args: Array<unknown>) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql<A>(strings, ...args))

export const start = () => D1Testing.startMiniflareD1()

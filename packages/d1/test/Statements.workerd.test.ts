// How many D1 statements a comment costs before its machine is requested: Porter on the D1 stores (a real local D1,
// workerd via Miniflare) with in-memory GitHub and machines, every statement the binding executes counted.
// The target is at most 8, on a fresh isolate (settings not cached yet) and on a warm one.
import type { D1Database, D1PreparedStatement } from "@cloudflare/workers-types"
import { assert, describe, it } from "@effect/vitest"
import { MachineProvisioner, Porter, SecretStore } from "@porter/core"
import { D1Storage, EncryptionKeys } from "@porter/d1"
import * as D1Testing from "@porter/d1/testing"
import { Fixtures, InMemoryProvisioner, TestPorter } from "@porter/testing"
import { Effect, Layer, Redacted } from "effect"

/** A binding that counts every statement it executes (`run`, `all`, `first`, `raw`; each statement of a batch). */
const counting = (db: D1Database) => {
  const counter = { executed: 0, queries: [] as Array<string> }
  const executes = new Set(["run", "all", "first", "raw"])
  const statement = (inner: D1PreparedStatement, query: string): D1PreparedStatement =>
    new Proxy(inner, {
      get(target, name) {
        if (name === "bind") return (...params: Array<unknown>) => statement(target.bind(...params), query)
        const value = Reflect.get(target, name)
        if (typeof value !== "function") return value
        if (typeof name === "string" && executes.has(name)) {
          return (...args: Array<unknown>) => {
            counter.executed++
            counter.queries.push(query.replace(/\s+/g, " ").slice(0, 60))
            return Reflect.apply(value, target, args)
          }
        }
        return value.bind(target)
      }
    })
  const wrapped = new Proxy(db, {
    get(target, name) {
      if (name === "prepare") return (query: string) => statement(target.prepare(query), query)
      if (name === "batch") {
        return (statements: Array<D1PreparedStatement>) => {
          counter.executed += statements.length
          return target.batch(statements)
        }
      }
      const value = Reflect.get(target, name)
      return typeof value === "function" ? value.bind(target) : value
    }
  })
  return { db: wrapped, counter }
}

const KEY = "sk-ant-statements-0123456789"

describe("D1 statements from a comment to its machine request", () => {
  it.live("at most 8, on a fresh isolate and on a warm one", () =>
    Effect.gen(function*() {
      const d1 = yield* D1Testing.start()
      const { counter, db } = counting(d1.db)
      // The count when the provisioner is asked for a machine.
      const atCreate: Array<number> = []
      const provisioner = Layer.effect(
        MachineProvisioner.MachineProvisioner,
        Effect.map(Effect.service(MachineProvisioner.MachineProvisioner), (inner) =>
          MachineProvisioner.MachineProvisioner.of({
            ...inner,
            create: (spec) =>
              Effect.suspend(() =>
                Effect.andThen(
                  Effect.sync(() =>
                    atCreate.push(counter.executed)
                  ),
                  inner.create(spec)
                )
              )
          }))
      ).pipe(Layer.provideMerge(InMemoryProvisioner.layer))
      const storage = D1Storage.layer({
        db,
        keys: { current: { id: "k1", key: Redacted.make(EncryptionKeys.generate()) } }
      })
      const stack = Porter.layer.pipe(
        // Later layers win: D1 stores and the counting provisioner replace the in-memory ones.
        Layer.provideMerge(Layer.mergeAll(TestPorter.services(), storage, provisioner))
      )
      yield* Effect.gen(function*() {
        const porter = yield* Porter.Porter
        const secrets = yield* SecretStore.SecretStore
        yield* secrets.set(SecretStore.scopes.global, "ANTHROPIC_API_KEY" as SecretStore.SecretName, Redacted.make(KEY))

        for (const [round, issueNumber] of [["fresh", 1], ["warm", 2]] as const) {
          counter.executed = 0
          counter.queries.length = 0
          const event = Fixtures.commentCreated({ body: "@porter claude make it faster", issueNumber })
          assert.strictEqual((yield* porter.handle(event))._tag, "Accepted")
          const count = atCreate.at(-1)
          assert.isDefined(count, `${round}: a machine was requested`)
          assert.isAtMost(
            count!,
            8,
            `${round}: ${count} statements before the machine request: ${counter.queries.join(" | ")}`
          )
          yield* Effect.logInfo(`D1 statements before the machine request (${round} isolate): ${count}`)
        }
      }).pipe(Effect.provide(stack))
    }).pipe(Effect.scoped), 120_000)
})

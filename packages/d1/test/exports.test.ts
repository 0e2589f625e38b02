// Placeholder until this package's own tests land: the entry point loads.
import { assert, it } from "@effect/vitest"
import * as pkg from "@porter/d1"

it("loads @porter/d1", () => {
  assert.isObject(pkg)
})

// Placeholder until this package's own tests land: the entry point loads.
import { assert, it } from "@effect/vitest"
import * as pkg from "@porter/github"

it("loads @porter/github", () => {
  assert.isObject(pkg)
})

// Placeholder until this package's own tests land: the entry point loads.
import { assert, it } from "@effect/vitest"
import * as pkg from "@porter/testkit"

it("loads @porter/testkit", () => {
  assert.isDefined(pkg)
})

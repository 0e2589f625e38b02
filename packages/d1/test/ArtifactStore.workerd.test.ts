// The ArtifactStore conformance suite on a real local D1 (workerd via Miniflare, migrations applied).
import { afterAll } from "@effect/vitest"
import { SqlArtifactStore } from "@porter/sql"
import { ArtifactStoreSuite } from "@porter/testing/conformance"
import { Layer } from "effect"
import { clientLayer, start } from "./utils.ts"

const d1 = await start()
afterAll(() => d1.dispose())

ArtifactStoreSuite.run("D1 (Miniflare)", SqlArtifactStore.layer.pipe(Layer.provide(clientLayer(d1.db))))

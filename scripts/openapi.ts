// Writes docs/openapi.json: the OpenAPI document of Porter's HTTP API, generated from its definition
// (`@porter/core`'s Api). Tests keep the checked-in copy equal to what the Worker serves at GET /openapi.json.
//   node --conditions=@porter/source scripts/openapi.ts
import { HttpApp } from "@porter/core"
import { writeFileSync } from "node:fs"

const path = new URL("../docs/openapi.json", import.meta.url)
writeFileSync(path, `${JSON.stringify(HttpApp.openApi(), null, 2)}\n`)
console.log(`wrote ${path.pathname}`)

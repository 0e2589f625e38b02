// ESLint: the configuration and its packages are in scripts/lint, a workspace of its own, because typescript-eslint
// parses with TypeScript 5's compiler API and the root's TypeScript 7 (the native compiler) has none. npm keeps
// typescript-eslint and TypeScript 5.9 there but hoists packages that accept any TypeScript (ts-api-utils) or do not
// declare theirs (@effect/eslint-plugin imports @typescript-eslint/utils): in this process, `typescript` and
// `@typescript-eslint/*` resolve from scripts/lint, whoever imports them.
import { createRequire, registerHooks } from "node:module"
import { pathToFileURL } from "node:url"

const lint = new URL("./scripts/lint/config.mjs", import.meta.url)
const fromLint = createRequire(lint)

let redirecting = false
registerHooks({
  resolve: (specifier, context, next) => {
    if (redirecting || !/^(typescript|@typescript-eslint\/[^/]+)(\/|$)/.test(specifier)) return next(specifier, context)
    redirecting = true
    try {
      return { url: pathToFileURL(fromLint.resolve(specifier)).href, shortCircuit: true }
    } finally {
      redirecting = false
    }
  }
})

export default (await import(lint.href)).default

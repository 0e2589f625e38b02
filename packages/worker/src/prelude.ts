// Imported first by the Worker entry, so that it runs before any module of Effect is evaluated (Effect looks up
// `AsyncResource` once, when its runtime module loads): see WorkerAsyncHooks. `index.ts` calls `restore` after
// its imports, when Effect has been evaluated.
import { hide } from "./WorkerAsyncHooks.ts"

/** Puts back what the prelude hid from Effect's runtime: call once Effect's modules are evaluated. */
export const restore: () => void = hide()

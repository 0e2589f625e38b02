// Imported first by the Worker entry, so that it runs before any module of Effect is evaluated (Effect looks up
// `AsyncResource` once, when its runtime module loads): see WorkerAsyncHooks. `index.ts` calls `restore` after
// its imports, when Effect has been evaluated.
import { hide } from "./WorkerAsyncHooks.ts"

export const restore: () => void = hide()

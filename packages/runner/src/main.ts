/**
 * The runner's entry point: `node --conditions=@porter/source packages/runner/src/main.ts` from
 * the sources, or `node dist/runner.mjs` from the bundle. The exit code says how the run ended
 * (see `ExitCode.ts`).
 *
 *   main.ts                 run the task described by the environment
 *   main.ts script-agent    be the deterministic `script` agent (prompt on stdin, cwd = the clone)
 *
 * Boot first, the program after, through a dynamic import: a module's static imports are all loaded (from the
 * sources: read and type-stripped, hundreds of files) before any of its code runs, and `Boot` starts the clone while
 * that happens. The bundle keeps that order: `runner.mjs` is Boot and a dynamic import of the program's chunk.
 */
import "./Boot.ts"

await import("./Program.ts")

/**
 * The local machines server: a Fly Machines API stand-in on loopback whose machines are child processes or
 * Docker containers. See `README.md` next to this file.
 */
export * from "./MachinesServer.ts"
export { demultiplex, dockerRuntime, processRuntime } from "./Runtimes.ts"
export type { Launched, LaunchSpec, Runtime, Signal } from "./Runtimes.ts"

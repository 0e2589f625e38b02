/**
 * @porter/local — Porter's `MachineProvisioner` over child processes on this host, and the process-machine pieces
 * it is made of (sandboxed start, adoption after a restart, output buffer, state directory, runner discovery).
 */
export * as LocalProvisioner from "./LocalProvisioner.ts"
export * as LogBuffer from "./LogBuffer.ts"
export * as Processes from "./Processes.ts"
export * as ProcessMachine from "./ProcessMachine.ts"
export * as RunnerCommand from "./RunnerCommand.ts"
export * as StateDir from "./StateDir.ts"

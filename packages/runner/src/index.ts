/**
 * @porter/runner — the program that runs inside each Porter machine: clone through Porter, run the agent CLI,
 * commit, send the agent's work to Porter as a change set (Porter commits it and opens the pull request), report.
 * `src/main.ts` is the entry point; the modules are exported for tests and for hosts that embed the runner.
 */
export * as AgentRunner from "./AgentRunner.ts"
export * as AgentSetup from "./AgentSetup.ts"
export * as Callbacks from "./Callbacks.ts"
export * as ChangeSetBuilder from "./ChangeSetBuilder.ts"
export { ExitCode } from "./ExitCode.ts"
export * as Git from "./Git.ts"
export * as MachineEnv from "./MachineEnv.ts"
export * as RunLog from "./RunLog.ts"
export * as Runner from "./Runner.ts"
export * as ScriptAgent from "./ScriptAgent.ts"
export * as Scrubber from "./Scrubber.ts"
export { REDACTED } from "./Scrubber.ts"
export * as SecretCheck from "./SecretCheck.ts"
export * as Sessions from "./Sessions.ts"
export * as Work from "./Work.ts"

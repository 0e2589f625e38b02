export * as WorkerThreadProvisioner from "./WorkerThreadProvisioner.ts"

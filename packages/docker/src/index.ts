/**
 * @porter/docker — Porter's `MachineProvisioner` over the Docker Engine API, and the small typed Engine client
 * it is built on.
 */
export * as DockerApi from "./DockerApi.ts"
export * as DockerEngine from "./DockerEngine.ts"
export * as DockerProvisioner from "./DockerProvisioner.ts"

/**
 * @porter/fly — Porter's `MachineProvisioner` over the Fly Machines REST API, with the explicit app-creation step.
 */
export * as FlyApi from "./FlyApi.ts"
export * as FlyApps from "./FlyApps.ts"
export * as FlyHttp from "./FlyHttp.ts"
export * as FlyMachines from "./FlyMachines.ts"

/**
 * @porter/reliability — the reliability suite's tools: the local stack with a fault-injecting proxy on each wire,
 * the proxy itself, the secret scanner, the checks every run ends with, and signed webhook deliveries.
 */
export * as Deliveries from "./Deliveries.ts"
export * as FaultProxy from "./FaultProxy.ts"
export * as Invariants from "./Invariants.ts"
export * as SecretScan from "./SecretScan.ts"
export * as Stack from "./Stack.ts"
export * as Workerd from "./Workerd.ts"

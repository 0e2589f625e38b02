/**
 * `@porter/sql/node` — Porter's storage for Node hosts: SQLite (one file, `node:sqlite`) or PostgreSQL (several
 * replicas), migrated at start under a lock (`NodeStorage`), the host's data directory (`DataDir`), and task artifacts in a
 * directory (`FileArtifactStore`); a SQLite file's WAL checkpointed off the host's event loop (`WalCheckpoints`, used by
 * `NodeStorage`).
 */
export * as DataDir from "./DataDir.ts"
export * as FileArtifactStore from "./FileArtifactStore.ts"
export * as NodeStorage from "./NodeStorage.ts"
export * as WalCheckpoints from "./WalCheckpoints.ts"

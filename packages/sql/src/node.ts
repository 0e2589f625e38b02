/**
 * `@porter/sql/node` — Porter's storage for Node hosts: SQLite (one file, `node:sqlite`) or PostgreSQL (several
 * replicas), migrated at start under a lock (`NodeStorage`), and the host's data directory (`DataDir`).
 */
export * as DataDir from "./DataDir.ts"
export * as NodeStorage from "./NodeStorage.ts"

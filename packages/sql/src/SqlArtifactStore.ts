/**
 * `ArtifactStore` on effect's `SqlClient` (SQLite on Node, Cloudflare D1, PostgreSQL): one `task_artifacts` row per
 * task and kind (migration 0009), replaced by a later write; the retention purge reads the `stored_at` index.
 *
 * Cannot: keep more than D1's 2 MB per value on D1 (`ArtifactStore.MAX_ARTIFACT_BYTES` keeps artifacts under it for
 * text of one or two bytes a character); publish what it keeps (no address: the web app shows it).
 */
import { ArtifactStore } from "@porter/core"
import { Effect, Layer, Option, Schema } from "effect"
import { SqlClient } from "effect/sql"
import * as Dialect from "./internal/dialect.ts"

const Row = Schema.Struct({
  task_id: Schema.String,
  kind: ArtifactStore.ArtifactKind,
  agent: Schema.String,
  name: Schema.String,
  content: Schema.String,
  stored_at: Dialect.Num
})
const decodeRows = Schema.decodeUnknownEffect(Schema.Array(Row))
const Count = Schema.Struct({ dropped: Dialect.Num })
const decodeCount = Schema.decodeUnknownEffect(Schema.Array(Count))
const decodeArtifact = Schema.decodeUnknownEffect(ArtifactStore.Artifact)

const failed = (operation: string, label: string) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.mapError(
    effect,
    (cause) => new ArtifactStore.ArtifactError({ message: `${label} could not ${operation}`, cause })
  )

/** Builds the store on the ambient `SqlClient`. */
export const make: Effect.Effect<ArtifactStore.ArtifactStore["Service"], never, SqlClient.SqlClient> = Effect.gen(
  function*() {
    const sql = yield* SqlClient.SqlClient
    const { label } = yield* Dialect.of(sql)

    const put: ArtifactStore.ArtifactStore["Service"]["put"] = (artifact) =>
      sql`INSERT INTO task_artifacts ${
        sql.insert({
          task_id: artifact.taskId,
          kind: artifact.kind,
          agent: artifact.agent,
          name: artifact.name,
          content: artifact.content,
          stored_at: artifact.storedAt
        })
      } ON CONFLICT (task_id, kind) DO UPDATE SET agent = excluded.agent, name = excluded.name,
        content = excluded.content, stored_at = excluded.stored_at`.pipe(
        Effect.as(Option.none<string>()),
        failed("store an artifact", label)
      )

    const get: ArtifactStore.ArtifactStore["Service"]["get"] = (taskId, kind) =>
      sql`SELECT task_id, kind, agent, name, content, stored_at FROM task_artifacts
        WHERE task_id = ${taskId} AND kind = ${kind}`.pipe(
        Effect.flatMap(decodeRows),
        Effect.flatMap((rows) =>
          rows[0] === undefined ? Effect.succeed(Option.none()) : Effect.map(
            decodeArtifact({
              taskId: rows[0].task_id,
              kind: rows[0].kind,
              agent: rows[0].agent,
              name: rows[0].name,
              content: rows[0].content,
              storedAt: rows[0].stored_at
            }),
            Option.some
          )
        ),
        failed("read an artifact", label)
      )

    const purge: ArtifactStore.ArtifactStore["Service"]["purge"] = (before) =>
      Effect.gen(function*() {
        const [count] = yield* Effect.flatMap(
          sql`SELECT count(*) AS dropped FROM task_artifacts WHERE stored_at < ${before}`,
          decodeCount
        )
        yield* sql`DELETE FROM task_artifacts WHERE stored_at < ${before}`
        return count?.dropped ?? 0
      }).pipe(failed("purge artifacts", label))

    return ArtifactStore.ArtifactStore.of({ put, get, purge })
  }
)

/** The store on the ambient `SqlClient` (its migrations applied: 0009). */
export const layer: Layer.Layer<ArtifactStore.ArtifactStore, never, SqlClient.SqlClient> = Layer.effect(
  ArtifactStore.ArtifactStore,
  make
)

/**
 * `ArtifactStore` in a directory, for Node hosts that keep their data on disk: `<dir>/<task id>/<kind>.json`, each
 * the artifact as JSON, written to a temporary file and renamed (a reader never sees half a file). The purge reads
 * each file's `storedAt`.
 *
 * Cannot: be shared by hosts on different machines (use the SQL store on PostgreSQL then); the purge reads every file.
 */
import { ArtifactStore } from "@porter/core"
import { Effect, Layer, Option, Schema } from "effect"
import { FileSystem } from "effect/FileSystem"
import { Path } from "effect/Path"

/** Where the files go. */
export interface Options {
  /** The directory (created when missing). */
  readonly dir: string
}

const ArtifactJson = Schema.fromJsonString(ArtifactStore.Artifact)
const decode = Schema.decodeUnknownEffect(ArtifactJson)
const encode = Schema.encodeEffect(ArtifactJson)

const failed = (operation: string) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.mapError(
    effect,
    (cause) => new ArtifactStore.ArtifactError({ message: `the artifact directory could not ${operation}`, cause })
  )

/** Task ids are `task_` and base32: nothing else is a task's directory. */
const TASK_DIR = /^task_[0-9a-z]{26}$/

/** The store in `options.dir`, on the ambient `FileSystem` and `Path`. */
export const make = (options: Options) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem
    const path = yield* Path
    const fileOf = (taskId: string, kind: ArtifactStore.ArtifactKind) => path.join(options.dir, taskId, `${kind}.json`)

    const put: ArtifactStore.ArtifactStore["Service"]["put"] = (artifact) =>
      Effect.gen(function*() {
        const file = fileOf(artifact.taskId, artifact.kind)
        yield* fs.makeDirectory(path.dirname(file), { recursive: true })
        const temporary = `${file}.${Date.now().toString(36)}.tmp`
        yield* fs.writeFileString(temporary, yield* encode(artifact))
        yield* fs.rename(temporary, file)
        return Option.none<string>()
      }).pipe(failed("store an artifact"))

    const read = (file: string) =>
      fs.readFileString(file).pipe(
        Effect.flatMap(decode),
        Effect.map(Option.some),
        Effect.catchTag(
          "PlatformError",
          (error) => error.reason._tag === "NotFound" ? Effect.succeed(Option.none()) : Effect.fail(error)
        )
      )

    const get: ArtifactStore.ArtifactStore["Service"]["get"] = (taskId, kind) =>
      read(fileOf(taskId, kind)).pipe(failed("read an artifact"))

    const purge: ArtifactStore.ArtifactStore["Service"]["purge"] = (before) =>
      Effect.gen(function*() {
        if (!(yield* fs.exists(options.dir))) return 0
        let dropped = 0
        for (const entry of yield* fs.readDirectory(options.dir)) {
          if (!TASK_DIR.test(entry)) continue
          for (const kind of ArtifactStore.ArtifactKind.literals) {
            const file = fileOf(entry, kind)
            const artifact = yield* read(file).pipe(Effect.orElseSucceed(() => Option.none()))
            if (Option.isSome(artifact) && artifact.value.storedAt < before) {
              yield* fs.remove(file, { force: true })
              dropped++
            }
          }
          if ((yield* fs.readDirectory(path.join(options.dir, entry))).length === 0) {
            yield* fs.remove(path.join(options.dir, entry), { recursive: true, force: true })
          }
        }
        return dropped
      }).pipe(failed("purge artifacts"))

    return ArtifactStore.ArtifactStore.of({ put, get, purge })
  })

/** `make` as a layer. */
export const layer = (options: Options): Layer.Layer<ArtifactStore.ArtifactStore, never, FileSystem | Path> =>
  Layer.effect(ArtifactStore.ArtifactStore, make(options))

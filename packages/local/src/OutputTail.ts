/**
 * The output of a machine: its output file, read as it grows into a bounded `LogBuffer` through effect's
 * `FileSystem`, each complete line handed on as it comes.
 */
import { Clock, Effect, Exit, FileSystem, Option, type PlatformError, Scope, Semaphore } from "effect"
import type * as LogBuffer from "./LogBuffer.ts"

/**
 * Reads a growing file into a `LogBuffer`. A file that is not there (yet, or any more) has nothing to read; a file
 * that cannot be opened or read is reported once, as a warning, and the machine runs on with its output cut short.
 */
export const make = (
  fs: FileSystem.FileSystem,
  file: string,
  buffer: LogBuffer.LogBuffer,
  onLine: ((line: LogBuffer.OutputLine) => Effect.Effect<void>) | undefined,
  from = 0
) => {
  let handle: { readonly file: FileSystem.File; readonly scope: Scope.Closeable } | undefined
  let offset = from
  let ended = false
  let warned = false
  const chunk = new Uint8Array(64 * 1024)

  const emit = (lines: ReadonlyArray<LogBuffer.OutputLine>) =>
    onLine === undefined || lines.length === 0 ? Effect.void : Effect.forEach(lines, onLine, { discard: true })

  const warn = (what: string) => (error: PlatformError.PlatformError) =>
    Effect.suspend(() => {
      if (warned) return Effect.void
      warned = true
      return Effect.logWarning(`could not ${what} a machine's output file; its output is incomplete`, {
        file,
        error: error.message
      })
    })

  const opened = Effect.gen(function*() {
    if (handle !== undefined) return Option.some(handle.file)
    const scope = yield* Scope.make()
    const result = yield* fs.open(file, { flag: "r" }).pipe(Scope.provide(scope), Effect.result)
    if (result._tag === "Success") {
      handle = { file: result.success, scope }
      return Option.some(result.success)
    }
    yield* Scope.close(scope, Exit.void)
    if (result.failure.reason._tag !== "NotFound") yield* warn("open")(result.failure)
    return Option.none<FileSystem.File>()
  })

  const lock = Semaphore.makeUnsafe(1)
  // One reader at a time, and uninterruptible: `offset` must always match what the buffer holds.
  const readUnlocked = Effect.gen(function*() {
    if (ended) return
    const current = yield* opened
    if (Option.isNone(current)) return
    const lines: Array<LogBuffer.OutputLine> = []
    const at = yield* Clock.currentTimeMillis
    for (;;) {
      const bytesRead = yield* current.value.read(chunk, { position: BigInt(offset) }).pipe(
        Effect.catchTag("PlatformError", (error) => Effect.as(warn("read")(error), 0))
      )
      if (bytesRead === 0) break
      offset += bytesRead
      for (const line of buffer.push(chunk.subarray(0, bytesRead), at)) lines.push(line)
    }
    yield* emit(lines)
  })
  const read = lock.withPermit(Effect.uninterruptible(readUnlocked))

  /** Closes the file; the output read so far stays in the buffer. */
  const close = Effect.suspend(() => {
    const open = handle
    handle = undefined
    return open === undefined ? Effect.void : Scope.close(open.scope, Exit.void)
  })

  const finish = lock.withPermit(Effect.uninterruptible(Effect.gen(function*() {
    yield* readUnlocked
    if (ended) return
    ended = true
    yield* emit(buffer.end(yield* Clock.currentTimeMillis))
    yield* close
  })))

  return { read, finish, close: lock.withPermit(close) }
}

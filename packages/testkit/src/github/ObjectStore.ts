/**
 * Git objects and references read and written inside the emulator's process, for the Git Data API and the REST reads
 * beside it, instead of one `git` process per call:
 *
 * - **Reads** (`ObjectReader.ts`) go through one long-lived `git cat-file --batch-command` per repository (`info` /
 *   `contents`, many requests pipelined). It sees what is written later: loose objects are looked up on each request,
 *   and git rescans the pack directory when an object is not found, so a pack a push brought in is read too. When the
 *   process dies it is started again on the next request (a request in flight is retried once).
 * - **Writes** (`ObjectWriter.ts`) are git's formats, named by SHA-1 over `"<type> <size>\0" + body`: a few objects as
 *   loose objects (zlib, a temporary file beside the object renamed into `objects/xx/…`), more as one pack and its
 *   index (renamed into `objects/pack`, the index last). Atomic either way, so a concurrent push or reader never sees
 *   half an object, and writing an object that exists changes nothing. Objects already read or written are not
 *   written again (`known`).
 * - **Trees** (`TreeObjects.ts`) are parsed and built here (git's entry order, modes as `ls-tree` prints them).
 * - **References** (`RefFiles.ts`) are read from the ref files (a loose ref, else `packed-refs`); names are checked as
 *   `git check-ref-format` does. A ref is created or moved under its lock file as git does (compare-and-swap against
 *   the value expected); anything but the plain case (packed refs, reflogs, symbolic refs), and deleting, is left to
 *   `git update-ref`.
 *
 * Object names given to the batch process must be one line without spaces: callers fall back to spawning git for
 * anything else. SHA-1 repositories only (the emulator makes no others).
 *
 * This module is the one callers import: it gathers the four parts under one name.
 */
export {
  batchable,
  closeUnder,
  contents,
  forget,
  type FoundObject,
  info,
  type ObjectType,
  SHA
} from "./ObjectReader.ts"
export { hashObject, type NewObject, writeObject, writeObjects } from "./ObjectWriter.ts"
export { compareAndSwapRef, hasBranches, readRef, validRefName } from "./RefFiles.ts"
export { formatTree, parseTree, type RawEntry, readTree, treeObjects } from "./TreeObjects.ts"

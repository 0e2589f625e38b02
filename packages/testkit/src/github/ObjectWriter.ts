/**
 * Writing git objects in the emulator's process, in git's formats, named by SHA-1 over `"<type> <size>\0" + body`: a
 * few objects as loose objects (zlib, a temporary file beside the object renamed into `objects/xx/…`), more as one pack
 * and its index (renamed into `objects/pack`, the index last). Atomic either way, so a concurrent push or reader never
 * sees half an object, and writing an object that exists changes nothing. Objects already read or written are not
 * written again (the repository's `known` set, `ObjectReader.ts`).
 */
import { Effect } from "effect"
import { createHash, randomBytes } from "node:crypto"
import { mkdir, rename, writeFile } from "node:fs/promises"
import * as path from "node:path"
import { crc32, deflateSync } from "node:zlib"
import type { ObjectType, Store } from "./ObjectReader.ts"
import { remember, storeOf } from "./ObjectReader.ts"

/** An object to write: its type and body (without git's `"<type> <size>\0"` header). */
export interface NewObject {
  readonly type: ObjectType
  readonly body: Uint8Array
}

/** The SHA-1 git names an object by. */
export const hashObject = (type: ObjectType, body: Uint8Array) =>
  createHash("sha1").update(`${type} ${body.byteLength}\0`, "latin1").update(body).digest("hex")

/** From this many new objects a write makes one pack rather than loose objects (two files instead of many). */
const PACK_FROM = 16

/**
 * Writes objects (those not known to exist); their SHAs in the same order. A few go as loose objects, many as one
 * pack with its index: creating files is what costs, on a busy disk about a millisecond each.
 */
export const writeObjects = (gitDir: string, objects: ReadonlyArray<NewObject>) =>
  Effect.promise(async () => {
    const store = storeOf(gitDir)
    const shas = objects.map((object) => hashObject(object.type, object.body))
    const fresh = new Map<string, NewObject>()
    objects.forEach((object, index) => {
      if (!store.known.has(shas[index]!)) fresh.set(shas[index]!, object)
    })
    if (fresh.size >= PACK_FROM) await writePack(gitDir, fresh)
    else await Promise.all([...fresh].map(([sha, object]) => writeLoose(store, gitDir, sha, object)))
    for (const sha of fresh.keys()) remember(store, sha)
    return shas
  })

/** Writes one object; its SHA. */
export const writeObject = (gitDir: string, type: ObjectType, body: Uint8Array) =>
  Effect.map(writeObjects(gitDir, [{ type, body }]), (shas) => shas[0]!)

/**
 * A loose object: zlib of header and body, written whole under a temporary name and renamed over the object's name
 * (an object already there, which a push brought meanwhile, is replaced by the same bytes, atomically).
 */
const writeLoose = async (store: Store, gitDir: string, sha: string, object: NewObject) => {
  const dir = path.join(gitDir, "objects", sha.slice(0, 2))
  if (!store.dirs.has(dir)) {
    await mkdir(dir, { recursive: true })
    store.dirs.add(dir)
  }
  const header = Buffer.from(`${object.type} ${object.body.byteLength}\0`, "latin1")
  const temp = path.join(dir, `tmp_obj_${randomBytes(6).toString("hex")}`)
  await writeFile(temp, deflateSync(Buffer.concat([header, object.body]), { level: 1 }), { flag: "wx", mode: 0o444 })
  await rename(temp, path.join(dir, sha.slice(2)))
}

const TYPE_CODE: Record<ObjectType, number> = { commit: 1, tree: 2, blob: 3, tag: 4 }

/**
 * Objects as one pack (version 2, every object whole) and its index (version 2) in `objects/pack`: both written under
 * temporary names, then the pack renamed, then the index — git only reads packs that have one, and a reader that
 * misses an object looks for new packs.
 */
const writePack = async (gitDir: string, objects: ReadonlyMap<string, NewObject>) => {
  const head = Buffer.alloc(12)
  head.write("PACK", 0, "latin1")
  head.writeUInt32BE(2, 4)
  head.writeUInt32BE(objects.size, 8)
  const parts: Array<Buffer> = [head]
  let offset = head.length
  const entries: Array<{ readonly sha: string; readonly offset: number; readonly crc: number }> = []
  for (const [sha, object] of objects) {
    // Type and size: 4 bits of size in the first byte, 7 in each next one, low bits first.
    const size = object.body.byteLength
    const bytes: Array<number> = []
    let byte = (TYPE_CODE[object.type] << 4) | (size & 0x0f)
    let rest = Math.floor(size / 16)
    while (rest > 0) {
      bytes.push(byte | 0x80)
      byte = rest & 0x7f
      rest = Math.floor(rest / 128)
    }
    bytes.push(byte)
    const header = Buffer.from(bytes)
    const data = deflateSync(object.body, { level: 1 })
    if (offset >= 0x80000000) throw new Error("a pack of 2 GiB or more is not written here")
    entries.push({ sha, offset, crc: crc32(data, crc32(header)) })
    parts.push(header, data)
    offset += header.length + data.length
  }
  const pack = Buffer.concat(parts)
  const checksum = createHash("sha1").update(pack).digest()

  const sorted = entries.sort((a, b) => (a.sha < b.sha ? -1 : a.sha > b.sha ? 1 : 0))
  const count = sorted.length
  const index = Buffer.alloc(8 + 256 * 4 + count * 28 + 40)
  index.writeUInt32BE(0xff744f63, 0) // "\377tOc"
  index.writeUInt32BE(2, 4)
  const fanout = new Array<number>(256).fill(0)
  for (const entry of sorted) fanout[parseInt(entry.sha.slice(0, 2), 16)]!++
  let total = 0
  fanout.forEach((n, byte) => index.writeUInt32BE(total += n, 8 + byte * 4))
  let at = 8 + 256 * 4
  for (const entry of sorted) at += index.write(entry.sha, at, "hex")
  for (const entry of sorted) at = index.writeUInt32BE(entry.crc >>> 0, at)
  for (const entry of sorted) at = index.writeUInt32BE(entry.offset, at)
  at += checksum.copy(index, at)
  createHash("sha1").update(index.subarray(0, at)).digest().copy(index, at)

  const dir = path.join(gitDir, "objects", "pack")
  await mkdir(dir, { recursive: true })
  const name = path.join(dir, `pack-${checksum.toString("hex")}`)
  const temp = path.join(dir, `tmp_pack_${randomBytes(6).toString("hex")}`)
  await writeFile(`${temp}.pack`, Buffer.concat([pack, checksum]), { mode: 0o444 })
  await writeFile(`${temp}.idx`, index, { mode: 0o444 })
  await rename(`${temp}.pack`, `${name}.pack`)
  await rename(`${temp}.idx`, `${name}.idx`)
}

/**
 * `SecretStore` on effect's `SqlClient` (SQLite on Node, Cloudflare D1, PostgreSQL), encrypted in the host with
 * AES-256-GCM (`effect/crypto`'s `Aead` on WebCrypto, built once per store, so each key is imported once): a random
 * 96-bit IV per write, and associated data that binds the ciphertext to its row — scope key, name and key id — so a
 * ciphertext or IV edited in place, or a row copied to another scope or name, fails with `SecretDecryptionFailed`
 * instead of decrypting. The database only ever sees ciphertext. Rows keep the format of the earlier hand WebCrypto
 * code (base64 IV, base64 ciphertext‖tag), which `Aead` shares: D1's LegacySecrets test opens rows that code wrote.
 *
 * Keys come from `EncryptionKeys` (current + retired ones). `rotate` re-encrypts every row that is
 * not under the current key, in batches, and reports counts; retired keys can be dropped from the
 * configuration once a rotation reports no failures.
 *
 * Cannot: decrypt rows whose key is no longer configured, or hide which names exist (names and
 * scopes are plaintext, so `list` works without keys).
 */
import { Errors, SecretStore } from "@porter/core"
import { Clock, type Config, Context, Effect, Layer, Option, Redacted, Result, Schema } from "effect"
import { Aead, SecureRandom } from "effect/crypto"
import { Base64 } from "effect/encoding"
import { SqlClient } from "effect/sql"
import * as EncryptionKeys from "./EncryptionKeys.ts"
import * as Dialect from "./internal/dialect.ts"
import { orStoreError as storeErrors } from "./internal/errors.ts"

/** What `rotate` did (the port's report). */
export type RotationReport = SecretStore.RotationReport

/** How `rotate` reads and writes. */
export interface RotateOptions {
  /**
   * Rows per read and per write statement (default 100, at most 200: a batch travels as one bound
   * JSON value, and D1 caps values at 2 MB).
   */
  readonly batchSize?: number
}

/** The SQL secret store: the `SecretStore` port plus key rotation with batch options. */
export class SqlSecretStore extends Context.Service<
  SqlSecretStore,
  SecretStore.SecretStore["Service"] & {
    readonly rotate: (options?: RotateOptions) => Effect.Effect<RotationReport, Errors.StoreError>
    readonly currentKeyId: string
  }
>()("@porter/sql/SqlSecretStore") {}

const SecretRow = Schema.Struct({
  scope_key: Schema.String,
  name: Schema.String,
  key_id: Schema.String,
  iv: Schema.String,
  ciphertext: Schema.String
})
type SecretRow = typeof SecretRow.Type
const decodeSecretRows = Schema.decodeUnknownEffect(Schema.Array(SecretRow))

const ListingRow = Schema.Struct({ scope_key: Schema.String, name: Schema.String, updated_at: Dialect.Num })
const decodeListingRows = Schema.decodeUnknownEffect(Schema.Array(ListingRow))

const IV_BYTES = 12
const encoder = new TextEncoder()
const decoder = new TextDecoder("utf-8", { fatal: true })

/** Associated data: a canonical encoding of (scope key, name, key id); JSON arrays of strings are unambiguous. */
export const associatedData = (scopeKey: string, name: string, keyId: string): Uint8Array =>
  encoder.encode(JSON.stringify(["porter/secret/v1", scopeKey, name, keyId]))

const CryptoLive = Aead.layerWebCrypto.pipe(Layer.provideMerge(SecureRandom.layerWebCrypto))

/** AES-256-GCM sealing and opening of rows with `keys`, on one `Aead` service. */
const makeCipher = Effect.fnUntraced(function*(keys: EncryptionKeys.EncryptionKeys) {
  const { aead, random } = yield* Effect.provide(
    Effect.all({ aead: Effect.service(Aead.Aead), random: Effect.service(SecureRandom.SecureRandom) }),
    CryptoLive
  )

  const encrypt = (scopeKey: string, name: string, value: Redacted.Redacted<string>) =>
    Effect.gen(function*() {
      const iv = yield* random.randomBytes(IV_BYTES)
      const sealed = yield* aead.encrypt(keys.current, encoder.encode(Redacted.value(value)), {
        nonce: iv,
        aad: associatedData(scopeKey, name, keys.currentId)
      })
      return { key_id: keys.currentId, iv: Base64.encode(iv), ciphertext: Base64.encode(sealed) }
    }).pipe(
      // CryptoError carries no plaintext, but say only what failed anyway.
      Effect.mapError(() => new Errors.StoreError({ message: `encrypting secret ${name} (${scopeKey}) failed` }))
    )

  const decrypt = (row: SecretRow): Effect.Effect<Redacted.Redacted<string>, Errors.SecretDecryptionFailed> => {
    const failed = new Errors.SecretDecryptionFailed({ scope: row.scope_key, name: row.name, keyId: row.key_id })
    const key = keys.get(row.key_id)
    const iv = Base64.decode(row.iv)
    const sealed = Base64.decode(row.ciphertext)
    if (key === undefined || Result.isFailure(iv) || Result.isFailure(sealed)) return Effect.fail(failed)
    // A wrong nonce length, a failed tag check or bytes that are not UTF-8: all the same failure.
    const aad = associatedData(row.scope_key, row.name, row.key_id)
    return aead.decrypt(key, sealed.success, { nonce: iv.success, aad }).pipe(
      Effect.flatMap((opened) => Effect.try({ try: () => Redacted.make(decoder.decode(opened)), catch: () => failed })),
      Effect.mapError(() => failed)
    )
  }

  return { encrypt, decrypt }
})

/** Builds the store with `keys` on the ambient `SqlClient`. */
export const makeWithKeys = (
  keys: EncryptionKeys.EncryptionKeys
): Effect.Effect<SqlSecretStore["Service"], never, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const dialect = yield* Dialect.of(sql)
    const orStoreError = (operation: string) => storeErrors(operation, dialect.label)
    const { decrypt, encrypt } = yield* makeCipher(keys)

    const rows = (operation: string, statement: Effect.Effect<ReadonlyArray<unknown>, unknown>) =>
      statement.pipe(Effect.flatMap(decodeSecretRows), orStoreError(operation))

    const set: SecretStore.SecretStore["Service"]["set"] = Effect.fn("SqlSecretStore.set")(
      function*(scope, name, value) {
        const scopeKey = SecretStore.scopeKey(scope)
        const sealed = yield* encrypt(scopeKey, name, value)
        const now = yield* Clock.currentTimeMillis
        yield* sql`INSERT INTO secrets (scope_key, name, key_id, iv, ciphertext, updated_at)
          VALUES (${scopeKey}, ${name}, ${sealed.key_id}, ${sealed.iv}, ${sealed.ciphertext}, ${now})
          ON CONFLICT (scope_key, name) DO UPDATE SET key_id = excluded.key_id, iv = excluded.iv,
            ciphertext = excluded.ciphertext, updated_at = excluded.updated_at`.pipe(orStoreError("set secret"))
      }
    )

    const get: SecretStore.SecretStore["Service"]["get"] = Effect.fn("SqlSecretStore.get")(function*(scope, name) {
      const found = yield* rows(
        "get secret",
        sql`SELECT scope_key, name, key_id, iv, ciphertext FROM secrets
          WHERE scope_key = ${SecretStore.scopeKey(scope)} AND name = ${name}`
      )
      const row = found[0]
      if (row === undefined) return Option.none()
      return Option.some(yield* decrypt(row))
    })

    const resolve: SecretStore.SecretStore["Service"]["resolve"] = Effect.fn("SqlSecretStore.resolve")(
      function*(name, chain) {
        const scopes = SecretStore.chainScopes(chain)
        const scopeKeys = scopes.map(SecretStore.scopeKey)
        // One query for the whole chain; only the winning row is decrypted.
        const found = yield* rows(
          "resolve secret",
          sql`SELECT scope_key, name, key_id, iv, ciphertext FROM secrets
            WHERE name = ${name} AND scope_key IN ${sql.in(scopeKeys)}`
        )
        for (const [index, scopeKey] of scopeKeys.entries()) {
          const row = found.find((r) => r.scope_key === scopeKey)
          if (row !== undefined) return Option.some({ scope: scopes[index]!, value: yield* decrypt(row) })
        }
        return Option.none()
      }
    )

    const resolveAll: SecretStore.SecretStore["Service"]["resolveAll"] = Effect.fn("SqlSecretStore.resolveAll")(
      function*(names, chain) {
        const resolved = new Map<SecretStore.SecretName, SecretStore.ResolvedSecret>()
        if (names.length === 0) return resolved
        const scopes = SecretStore.chainScopes(chain)
        const scopeKeys = scopes.map(SecretStore.scopeKey)
        // One query for every name and the whole chain; only the winning rows are decrypted.
        const found = yield* rows(
          "resolve secrets",
          sql`SELECT scope_key, name, key_id, iv, ciphertext FROM secrets
            WHERE name IN ${sql.in(names)} AND scope_key IN ${sql.in(scopeKeys)}`
        )
        for (const name of names) {
          for (const [index, scopeKey] of scopeKeys.entries()) {
            const row = found.find((r) => r.scope_key === scopeKey && r.name === name)
            if (row !== undefined) {
              resolved.set(name, { scope: scopes[index]!, value: yield* decrypt(row) })
              break
            }
          }
        }
        return resolved
      }
    )

    const list: SecretStore.SecretStore["Service"]["list"] = Effect.fn("SqlSecretStore.list")(function*(scope) {
      const where = scope === undefined ? sql.literal("1=1") : sql`scope_key = ${SecretStore.scopeKey(scope)}`
      const found = yield* sql`SELECT scope_key, name, updated_at FROM secrets WHERE ${where}
        ORDER BY name, scope_key`.pipe(Effect.flatMap(decodeListingRows), orStoreError("list secrets"))
      return found.flatMap((row) => {
        const parsed = SecretStore.parseScopeKey(row.scope_key)
        return parsed === undefined ? [] : [{ scope: parsed, name: row.name, updatedAt: row.updated_at }]
      })
    })

    const delete_: SecretStore.SecretStore["Service"]["delete"] = Effect.fn("SqlSecretStore.delete")(
      function*(scope, name) {
        const deleted = yield* sql`DELETE FROM secrets WHERE scope_key = ${SecretStore.scopeKey(scope)}
          AND name = ${name} RETURNING name`.pipe(orStoreError("delete secret"))
        return deleted.length > 0
      }
    )

    /** The batch's rows, bound as one JSON array, as a table `r` (the JSON functions differ per dialect). */
    const rotationRows = (json: string) =>
      dialect.name === "pg"
        ? sql`jsonb_to_recordset(${json}::jsonb) AS r(s text, n text, ok text, oi text, key_id text, iv text,
            ciphertext text)`
        : sql`(SELECT json_extract(value, '$.s') AS s, json_extract(value, '$.n') AS n,
              json_extract(value, '$.ok') AS ok, json_extract(value, '$.oi') AS oi,
              json_extract(value, '$.key_id') AS key_id, json_extract(value, '$.iv') AS iv,
              json_extract(value, '$.ciphertext') AS ciphertext
            FROM json_each(${json})) AS r`

    const rotate = Effect.fn("SqlSecretStore.rotate")(function*(options: RotateOptions = {}) {
      const batchSize = Math.max(1, Math.min(200, Math.floor(options.batchSize ?? 100)))
      let rotated = 0
      const failures: Array<{ scope: string; name: string; keyId: string }> = []
      // Keyset pagination: rows that fail stay behind the cursor instead of being read again.
      let cursor: readonly [string, string] = ["", ""]
      while (true) {
        const batch = yield* rows(
          "read secrets to rotate",
          sql`SELECT scope_key, name, key_id, iv, ciphertext FROM secrets
            WHERE key_id <> ${keys.currentId} AND (scope_key, name) > (${cursor[0]}, ${cursor[1]})
            ORDER BY scope_key, name LIMIT ${batchSize}`
        )
        if (batch.length === 0) break
        const last = batch[batch.length - 1]!
        cursor = [last.scope_key, last.name]
        const updates: Array<Record<string, string>> = []
        for (const row of batch) {
          const value = yield* Effect.result(decrypt(row))
          if (Result.isFailure(value)) {
            failures.push({ scope: row.scope_key, name: row.name, keyId: row.key_id })
            continue
          }
          const sealed = yield* encrypt(row.scope_key, row.name, value.success)
          updates.push({ s: row.scope_key, n: row.name, ok: row.key_id, oi: row.iv, ...sealed })
        }
        if (updates.length === 0) continue
        // One statement per batch (D1 counts queries per invocation); the old key id and IV in the
        // match leave alone a row that `set` rewrote meanwhile.
        const written = yield* sql`UPDATE secrets SET key_id = r.key_id, iv = r.iv, ciphertext = r.ciphertext
          FROM ${rotationRows(JSON.stringify(updates))}
          WHERE secrets.scope_key = r.s AND secrets.name = r.n AND secrets.key_id = r.ok AND secrets.iv = r.oi
          RETURNING secrets.name`.pipe(orStoreError("rotate secrets"))
        rotated += written.length
      }
      if (failures.length > 0) {
        yield* Effect.logWarning("secrets left under their old key: they cannot be decrypted", {
          count: failures.length,
          rows: failures.map((f) => `${f.scope}/${f.name} (${f.keyId})`)
        })
      }
      return { rotated, failed: failures.length, failures, currentKeyId: keys.currentId } satisfies RotationReport
    })

    return SqlSecretStore.of({
      set,
      get,
      resolve,
      resolveAll,
      list,
      delete: delete_,
      rotate,
      currentKeyId: keys.currentId
    })
  })

const provideBoth = <E, R>(store: Effect.Effect<SqlSecretStore["Service"], E, R>) =>
  Layer.effectContext(
    Effect.map(store, (service) =>
      Context.make(SqlSecretStore, service).pipe(Context.add(SecretStore.SecretStore, service)))
  )

/** Builds the store from key options on the ambient `SqlClient`. */
export const make = (
  options: EncryptionKeys.EncryptionKeysOptions
): Effect.Effect<SqlSecretStore["Service"], EncryptionKeys.EncryptionKeyError, SqlClient.SqlClient> =>
  Effect.flatMap(EncryptionKeys.make(options), makeWithKeys)

/** Provides both `SecretStore` and `SqlSecretStore` (for `rotate` with options). */
export const layer = (
  options: EncryptionKeys.EncryptionKeysOptions
): Layer.Layer<SqlSecretStore | SecretStore.SecretStore, EncryptionKeys.EncryptionKeyError, SqlClient.SqlClient> =>
  provideBoth(make(options))

/** Provides both, with keys already imported (`EncryptionKeys.make` or `fromConfig`). */
export const layerWithKeys = (
  keys: EncryptionKeys.EncryptionKeys
): Layer.Layer<SqlSecretStore | SecretStore.SecretStore, never, SqlClient.SqlClient> => provideBoth(makeWithKeys(keys))

/** Like `layer`, with keys from `PORTER_ENCRYPTION_KEY`, `PORTER_ENCRYPTION_KEY_ID`, `PORTER_ENCRYPTION_OLD_KEYS`. */
export const layerConfig: Layer.Layer<
  SqlSecretStore | SecretStore.SecretStore,
  EncryptionKeys.EncryptionKeyError | Config.ConfigError,
  SqlClient.SqlClient
> = provideBoth(Effect.flatMap(EncryptionKeys.fromConfig, makeWithKeys))

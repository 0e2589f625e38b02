/**
 * `ArtifactStore` as secret gists: one gist per task (description `Porter task <id>`), one file per kind
 * (`session.jsonl`, `transcript.md`, `changes.diff`) and `porter.json` with each kind's agent, name and time. Meant as
 * the optional mirror (`ArtifactMirror`): the address it answers is the gist's page, which the final status comment
 * links when the host serves no web app. A secret gist is unlisted, not private: anyone with its address can read it
 * (what is in it was redacted first).
 *
 * Needs a token that may write gists (a user's or a bot account's personal access token with the `gist` scope: an
 * App's installation token cannot). Configuration (`layerMirrorConfig`): `PORTER_GIST_TOKEN` (no token: no mirror),
 * `PORTER_GIST_API_URL` (default `GITHUB_API_URL`, else github.com).
 *
 * Cannot: find a task's gist among more than `SEARCH_LIMIT` of the account's newest gists (an id once found is kept in
 * memory); read a file GitHub truncated (over 1 MB: its artifact reads as absent); purge without reading every gist
 * it looks at (a mirror is not purged by Porter: its gists are the account's to keep or delete).
 *
 * @since 0.1.0
 */
import { ArtifactStore, Ids } from "@porter/core"
import { Config, Effect, Layer, Option, type Redacted, Schema } from "effect"
import * as GitHubClient from "./GitHubClient.ts"

/** @category models */
export interface GistOptions {
  /** A token that may create gists (the `gist` scope). */
  readonly token: Redacted.Redacted<string>
  /** The REST root (github.com's by default; GitHub Enterprise, the emulator). */
  readonly apiUrl?: string
  /** Retries and timeout of each call (a mirror should give up fast: default 1 retry, 5 s). */
  readonly client?: Omit<GitHubClient.ClientOptions, "apiUrl">
}

/** How many of the account's newest gists are searched for a task's. */
export const SEARCH_LIMIT = 300

const FILE: Record<ArtifactStore.ArtifactKind, string> = {
  session: "session.jsonl",
  transcript: "transcript.md",
  diff: "changes.diff"
}
const META = "porter.json"
const PREFIX = "Porter task "

const GistFile = Schema.Struct({
  content: Schema.optional(Schema.String),
  truncated: Schema.optional(Schema.Boolean)
})
const Gist = Schema.Struct({
  id: Schema.String,
  html_url: Schema.String,
  description: Schema.NullOr(Schema.String),
  files: Schema.Record(Schema.String, Schema.NullOr(GistFile))
})
const Listed = Schema.Array(Schema.Struct({ id: Schema.String, description: Schema.NullOr(Schema.String) }))
const Meta = Schema.Record(
  Schema.String,
  Schema.Struct({ agent: Schema.String, name: Schema.String, storedAt: Schema.Number })
)
const decodeMeta = Schema.decodeUnknownOption(Schema.fromJsonString(Meta))
const decodeTaskId = Schema.decodeUnknownOption(Ids.TaskId)

const failed = (error: GitHubClient.GitHubError) =>
  new ArtifactStore.ArtifactError({ message: `the gist mirror failed: ${error.message}`, cause: error })

/** @category constructors */
export const make = Effect.fnUntraced(function*(options: GistOptions) {
  const github = yield* GitHubClient.make({
    retry: { times: 1, baseDelayMs: 200, maxDelayMs: 2_000 },
    timeoutMs: 5_000,
    ...options.client,
    ...(options.apiUrl !== undefined ? { apiUrl: options.apiUrl } : {})
  }).pipe(Effect.map((service) => service))
  const request = <A>(route: string, params: Record<string, unknown>, schema?: Schema.Decoder<A>) =>
    github.request<A>(route, { token: options.token, params, ...(schema !== undefined ? { schema } : {}) })
  const known = new Map<string, string>()

  /** The account's gists with Porter's description, newest first, up to `SEARCH_LIMIT`. */
  const porterGists = Effect.gen(function*() {
    const found: Array<{ readonly id: string; readonly taskId: string }> = []
    for (let page = 1; page <= Math.ceil(SEARCH_LIMIT / 100); page++) {
      const { data } = yield* request("GET /gists", { per_page: 100, page }, Listed)
      for (const gist of data) {
        const taskId = gist.description?.startsWith(PREFIX) === true ? gist.description.slice(PREFIX.length) : ""
        if (Option.isSome(decodeTaskId(taskId))) found.push({ id: gist.id, taskId })
      }
      if (data.length < 100) break
    }
    for (const gist of found) if (!known.has(gist.taskId)) known.set(gist.taskId, gist.id)
    return found
  })

  const gistOf = (taskId: string) =>
    Effect.gen(function*() {
      const cached = known.get(taskId)
      if (cached !== undefined) return Option.some(cached)
      const found = (yield* porterGists).find((gist) => gist.taskId === taskId)
      return Option.fromNullishOr(found?.id)
    })

  const read = (id: string) =>
    request("GET /gists/{gist_id}", { gist_id: id }, Gist).pipe(
      Effect.map((response) => Option.some(response.data)),
      Effect.catchIf((error) => error.status === 404, () => Effect.succeed(Option.none()))
    )

  const metaOf = (gist: typeof Gist.Type) =>
    Option.getOrElse(decodeMeta(gist.files[META]?.content ?? "{}"), () => ({}) as typeof Meta.Type)

  const put = Effect.fn("GistArtifactStore.put")(function*(artifact: ArtifactStore.Artifact) {
    const entry = { agent: artifact.agent, name: artifact.name, storedAt: artifact.storedAt }
    const existing = yield* gistOf(artifact.taskId)
    const current = Option.isSome(existing) ? yield* read(existing.value) : Option.none()
    if (Option.isSome(current)) {
      const meta = { ...metaOf(current.value), [artifact.kind]: entry }
      const { data } = yield* request("PATCH /gists/{gist_id}", {
        gist_id: current.value.id,
        files: { [FILE[artifact.kind]]: { content: artifact.content }, [META]: { content: JSON.stringify(meta) } }
      }, Gist)
      return Option.some(data.html_url)
    }
    const { data } = yield* request("POST /gists", {
      description: `${PREFIX}${artifact.taskId}`,
      public: false,
      files: {
        [FILE[artifact.kind]]: { content: artifact.content },
        [META]: { content: JSON.stringify({ [artifact.kind]: entry }) }
      }
    }, Gist)
    known.set(artifact.taskId, data.id)
    return Option.some(data.html_url)
  }, Effect.mapError(failed))

  const get = Effect.fn("GistArtifactStore.get")(function*(taskId: Ids.TaskId, kind: ArtifactStore.ArtifactKind) {
    const id = yield* gistOf(taskId)
    if (Option.isNone(id)) return Option.none<ArtifactStore.Artifact>()
    const gist = yield* read(id.value)
    if (Option.isNone(gist)) return Option.none<ArtifactStore.Artifact>()
    const file = gist.value.files[FILE[kind]]
    const meta = metaOf(gist.value)[kind]
    if (file?.content === undefined || file.truncated === true || meta === undefined) {
      return Option.none<ArtifactStore.Artifact>()
    }
    return Option.some(
      new ArtifactStore.Artifact({
        taskId,
        kind,
        agent: meta.agent,
        name: meta.name,
        content: file.content,
        storedAt: meta.storedAt
      })
    )
  }, Effect.mapError(failed))

  const purge = Effect.fn("GistArtifactStore.purge")(function*(before: number) {
    let dropped = 0
    for (const listed of yield* porterGists) {
      const gist = yield* read(listed.id)
      if (Option.isNone(gist)) continue
      const meta = metaOf(gist.value)
      const old = ArtifactStore.ArtifactKind.literals.filter((kind) =>
        meta[kind] !== undefined && meta[kind].storedAt < before
      )
      if (old.length === 0) continue
      dropped += old.length
      if (old.length === Object.keys(meta).length) {
        yield* request("DELETE /gists/{gist_id}", { gist_id: listed.id })
        known.delete(listed.taskId)
        continue
      }
      const kept = Object.fromEntries(Object.entries(meta).filter(([kind]) => !old.includes(kind as never)))
      yield* request("PATCH /gists/{gist_id}", {
        gist_id: listed.id,
        files: {
          ...Object.fromEntries(old.map((kind) => [FILE[kind], null])),
          [META]: { content: JSON.stringify(kept) }
        }
      })
    }
    return dropped
  }, Effect.mapError(failed))

  return ArtifactStore.ArtifactStore.of({ put, get, purge })
})

/** @category layers */
export const layer = (options: GistOptions): Layer.Layer<ArtifactStore.ArtifactStore> =>
  Layer.effect(ArtifactStore.ArtifactStore, make(options))

/**
 * The mirror from configuration: with `PORTER_GIST_TOKEN`, secret gists (`PORTER_GIST_API_URL`, else
 * `GITHUB_API_URL`); without it, none.
 *
 * @category layers
 */
export const layerMirrorConfig: Layer.Layer<never, Config.ConfigError> = Layer.unwrap(
  Effect.gen(function*() {
    const token = yield* Config.option(Config.Redacted("PORTER_GIST_TOKEN"))
    if (Option.isNone(token)) return Layer.empty
    const apiUrl = yield* Config.option(Config.String("PORTER_GIST_API_URL"))
    const github = yield* Config.String("GITHUB_API_URL").pipe(Config.withDefault(GitHubClient.DEFAULT_API_URL))
    const mirror = yield* make({ token: token.value, apiUrl: Option.getOrElse(apiUrl, () => github) })
    return Layer.succeed(ArtifactStore.ArtifactMirror, mirror)
  })
)

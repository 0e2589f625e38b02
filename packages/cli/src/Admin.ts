/**
 * `porter secrets set|ls|rm` and `porter tasks ls|show`: a deployment's admin API from the terminal
 * (`AdminClient`). The deployment is `--url` / `PORTER_URL`, its token `--admin-token` / `PORTER_ADMIN_TOKEN`.
 * Secret values are read from `--value`, from stdin when it is not a terminal, or from a hidden prompt; they are
 * sent once and never printed.
 */
import * as Prompt from "effect/cli/Prompt"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as AdminClient from "./AdminClient.ts"
import { type CliFailure, fail } from "./CliFailure.ts"

/** The deployment a command talks to: its URL and admin token. */
export interface Connection {
  readonly url: Option.Option<string>
  readonly adminToken: Option.Option<Redacted.Redacted<string>>
}

/** The admin client for `--url` / `--admin-token` (or their variables), or what to pass. */
export const connect = (
  connection: Connection
): Effect.Effect<AdminClient.AdminClient["Service"], CliFailure, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    if (Option.isNone(connection.url)) {
      return yield* fail(
        "which deployment? pass --url https://… or set PORTER_URL (`porter dev` prints both for a local stack)"
      )
    }
    if (Option.isNone(connection.adminToken)) {
      return yield* fail(
        "the admin API needs the deployment's admin token: pass --admin-token or set PORTER_ADMIN_TOKEN"
      )
    }
    return yield* AdminClient.make({ url: connection.url.value, token: connection.adminToken.value }).pipe(
      Effect.mapError((error) => fail(error.message))
    )
  })

const adminFailure = (error: AdminClient.AdminError) => fail(error.message)

/** All of stdin, without one trailing newline. */
const readStdin = Effect.callback<string, CliFailure>((resume) => {
  const chunks: Array<Buffer> = []
  process.stdin.on("data", (chunk: Buffer) => chunks.push(chunk))
  process.stdin.once("end", () => resume(Effect.succeed(Buffer.concat(chunks).toString("utf8").replace(/\r?\n$/, ""))))
  process.stdin.once(
    "error",
    (error) => resume(Effect.fail(fail(`cannot read the value from stdin: ${error.message}`)))
  )
})

/** The secret's value: `--value`, else stdin (not a terminal), else a hidden prompt. */
export const secretValue = (name: string, value: Option.Option<Redacted.Redacted<string>>) =>
  Effect.gen(function*() {
    if (Option.isSome(value)) return value.value
    if (process.stdin.isTTY !== true) {
      const text = yield* readStdin
      if (text.length === 0) return yield* fail(`no value for ${name} on stdin: pipe it in, or pass --value`)
      return Redacted.make(text)
    }
    const entered = yield* Prompt.run(Prompt.Password({ message: `Value of ${name}` })).pipe(
      Effect.mapError(() => fail(`no value entered for ${name}: run again and type it, pipe it in, or pass --value`))
    )
    const text = Redacted.value(entered)
    if (text.length === 0) return yield* fail(`the value of ${name} is empty: run again and type it`)
    return Redacted.make(text)
  })

/** `porter secrets set NAME`: stores a secret (the value from `--value`, stdin or a hidden prompt). */
export const secretsSet = (
  connection: Connection,
  input: { readonly name: string; readonly scope: string; readonly value: Option.Option<Redacted.Redacted<string>> }
) =>
  Effect.gen(function*() {
    const admin = yield* connect(connection)
    const value = yield* secretValue(input.name, input.value)
    yield* admin.setSecret(input.scope, input.name, value).pipe(Effect.mapError(adminFailure))
    yield* Console.log(`Set ${input.name} (${input.scope}) on ${admin.url}.`)
  })

/** `porter secrets ls`: the names of a scope's secrets (never their values). */
export const secretsList = (
  connection: Connection,
  input: { readonly scope: Option.Option<string>; readonly json: boolean }
) =>
  Effect.gen(function*() {
    const admin = yield* connect(connection)
    const secrets = yield* admin.listSecrets(Option.getOrUndefined(input.scope)).pipe(Effect.mapError(adminFailure))
    if (input.json) return yield* Console.log(JSON.stringify(secrets))
    if (secrets.length === 0) {
      return yield* Console.log(
        `No secrets${Option.isSome(input.scope) ? ` in ${input.scope.value}` : ""} on ${admin.url}.`
      )
    }
    yield* Console.log(table(["SCOPE", "NAME", "UPDATED"], secrets.map((s) => [s.scope, s.name, s.updatedAt])))
  })

/** `porter secrets rm NAME`: deletes a secret. */
export const secretsRemove = (connection: Connection, input: { readonly name: string; readonly scope: string }) =>
  Effect.gen(function*() {
    const admin = yield* connect(connection)
    const deleted = yield* admin.deleteSecret(input.scope, input.name).pipe(Effect.mapError(adminFailure))
    if (!deleted) {
      return yield* fail(`there is no secret ${input.name} in ${input.scope}: \`porter secrets ls\` lists them`)
    }
    yield* Console.log(`Removed ${input.name} (${input.scope}) from ${admin.url}.`)
  })

/** `porter secrets rotate`: re-encrypts every secret with the current key. */
export const secretsRotate = (connection: Connection, input: { readonly json: boolean }) =>
  Effect.gen(function*() {
    const admin = yield* connect(connection)
    const report = yield* admin.rotateSecrets.pipe(Effect.mapError(adminFailure))
    if (input.json) return yield* Console.log(JSON.stringify(report))
    yield* Console.log(
      `Re-encrypted ${report.rotated} secret${
        report.rotated === 1 ? "" : "s"
      } under key ${report.currentKeyId} on ${admin.url}.`
    )
    if (report.failed > 0) {
      const rows = report.failures.map((f) => `  ${f.scope} ${f.name} (key ${f.keyId})`).join("\n")
      return yield* fail(
        `${report.failed} secret${
          report.failed === 1 ? "" : "s"
        } could not be decrypted (set them again, then rotate):\n${rows}`
      )
    }
  })

/** Left-aligned columns, two spaces apart. */
export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? "").length)))
  const format = (row: ReadonlyArray<string>) =>
    row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  ").trimEnd()
  return [format(header), ...rows.map(format)].join("\n")
}

const since = (iso: string, now: number): string => {
  const ms = now - Date.parse(iso)
  if (!Number.isFinite(ms)) return iso
  const s = Math.max(0, Math.round(ms / 1000))
  return s < 60
    ? `${s}s ago`
    : s < 3600
    ? `${Math.floor(s / 60)}m ago`
    : s < 86_400
    ? `${Math.floor(s / 3600)}h ago`
    : iso.slice(0, 10)
}

/** `porter tasks ls`: the latest tasks, filtered by repository or state. */
export const tasksList = (
  connection: Connection,
  input: {
    readonly state: Option.Option<string>
    readonly repo: Option.Option<string>
    readonly limit: number
    readonly json: boolean
  }
) =>
  Effect.gen(function*() {
    const admin = yield* connect(connection)
    const tasks = yield* admin.listTasks({
      state: Option.getOrUndefined(input.state),
      repo: Option.getOrUndefined(input.repo),
      limit: input.limit
    }).pipe(Effect.mapError(adminFailure))
    if (input.json) return yield* Console.log(JSON.stringify(tasks))
    if (tasks.length === 0) return yield* Console.log(`No tasks on ${admin.url}.`)
    const now = Date.now()
    yield* Console.log(table(
      ["TASK", "STATE", "ISSUE", "AGENT", "UPDATED", "RESULT"],
      tasks.map((t) => [
        t.id,
        t.state,
        `${t.repo}#${t.issueNumber}`,
        t.agent,
        since(t.updatedAt, now),
        t.prUrl ?? t.reason ?? t.outcome ?? ""
      ])
    ))
  })

/** `porter tasks show ID`: one task with its audit trail. */
export const tasksShow = (connection: Connection, input: { readonly id: string; readonly json: boolean }) =>
  Effect.gen(function*() {
    const admin = yield* connect(connection)
    const { events, task } = yield* admin.showTask(input.id).pipe(Effect.mapError(adminFailure))
    if (input.json) return yield* Console.log(JSON.stringify({ task, events }))
    const fields: Array<[string, string | undefined]> = [
      ["task", task.id],
      ["state", task.state],
      ["issue", `${task.repo}#${task.issueNumber}`],
      ["agent", `${task.agent}${task.model !== undefined ? ` (${task.model})` : ""}`],
      ["created", task.createdAt],
      ["updated", task.updatedAt],
      ["deadline", task.deadlineAt],
      ["machine", task.machineId],
      ["outcome", task.outcome],
      ["branch", task.branch],
      ["commit", task.commitSha],
      ["pull request", task.prUrl],
      ["reason", task.reason],
      ["summary", task.summary?.split("\n").join("\n              ")],
      ["usage", task.usage !== undefined ? usageText(task.usage) : undefined]
    ]
    const lines = fields.filter(([, value]) => value !== undefined && value !== "").map(([k, v]) =>
      `${k.padEnd(12)}  ${v}`
    )
    lines.push("", "events:")
    for (const event of events) {
      const what = event.kind === "transition" ? `${event.from ?? "·"} → ${event.to ?? "?"}` : event.kind
      lines.push(
        `  ${new Date(event.at).toISOString()}  ${what}${event.detail !== undefined ? `  ${event.detail}` : ""}`
      )
    }
    yield* Console.log(lines.join("\n"))
  })

/** `porter tasks cancel ID`: cancels an active task. */
export const tasksCancel = (connection: Connection, input: { readonly id: string }) =>
  Effect.gen(function*() {
    const admin = yield* connect(connection)
    const { cancelled, task } = yield* admin.cancelTask(input.id).pipe(Effect.mapError(adminFailure))
    yield* Console.log(
      cancelled
        ? `Cancelled ${task.id} (${task.repo}#${task.issueNumber}).`
        : `${task.id} had already ended (${task.state}).`
    )
  })

/** `porter tasks retry ID`: runs an ended task again. */
export const tasksRetry = (connection: Connection, input: { readonly id: string }) =>
  Effect.gen(function*() {
    const admin = yield* connect(connection)
    const task = yield* admin.retryTask(input.id).pipe(Effect.mapError(adminFailure))
    yield* Console.log(`Started ${task.id} (${task.repo}#${task.issueNumber}, ${task.agent}): ${task.state}.`)
  })

const usageText = (usage: typeof AdminClient.Usage.Type): string =>
  [
    usage.inputTokens !== undefined ? `${usage.inputTokens} input tokens` : undefined,
    usage.outputTokens !== undefined ? `${usage.outputTokens} output tokens` : undefined,
    usage.costUsd !== undefined ? `$${usage.costUsd.toFixed(4)}` : undefined,
    usage.turns !== undefined ? `${usage.turns} turns` : undefined
  ].filter((part) => part !== undefined).join(", ")

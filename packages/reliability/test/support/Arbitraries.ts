/**
 * fast-check generators for the fuzzers: comment texts (commands Porter understands, near misses, noise, mentions
 * hidden in code or quotes), webhook requests (signed deliveries of every kind, and broken ones: bad or missing
 * signatures, tampered bodies, garbage, oversized bodies, missing headers) and callback requests.
 */
import { AgentCatalog } from "@porter/core"
import { Deliveries } from "@porter/reliability"
import fc from "fast-check"

const agentWords = AgentCatalog.builtInAgents.flatMap((agent) => [agent.name, ...agent.aliases])
const words = fc.constantFrom(
  "fix",
  "the",
  "flaky",
  "date",
  "test",
  "add",
  "docs",
  "please",
  "refactor",
  "parser",
  "ISO",
  "weeks",
  "🙂",
  "café",
  "--model",
  "--timeout",
  "--",
  "status",
  "help",
  "cancel",
  "retry",
  "stop",
  "@porter",
  "`code`",
  "claud",
  "opencod"
)
const sentence = fc.array(fc.oneof(words, fc.string({ minLength: 1, maxLength: 12 })), { minLength: 0, maxLength: 12 })
  .map((ws) => ws.join(" "))

/** A line that addresses Porter: an agent or not, flags (valid or not), instructions. */
export const commandLine = fc.record({
  lead: fc.constantFrom("", " ", "  ", "   "),
  mention: fc.constantFrom("@porter", "@Porter", "@PORTER", "@porter:", "@porter,"),
  agent: fc.option(fc.oneof(fc.constantFrom(...agentWords), fc.string({ maxLength: 10 })), { nil: undefined }),
  model: fc.option(fc.oneof(fc.constantFrom("opus", "sonnet", "gpt-5", "x/y:z"), fc.string({ maxLength: 20 })), {
    nil: undefined
  }),
  timeout: fc.option(
    fc.oneof(fc.constantFrom("90s", "20m", "1h30m", "3h", "0s", "soon"), fc.string({ maxLength: 8 })),
    { nil: undefined }
  ),
  instructions: sentence
}).map(({ agent, instructions, lead, mention, model, timeout }) =>
  [
    `${lead}${mention}`,
    agent,
    model !== undefined ? `--model ${model}` : undefined,
    timeout !== undefined ? `--timeout ${timeout}` : undefined,
    instructions
  ].filter((part) => part !== undefined).join(" ")
)

/** A command as people write it: an agent, plain instructions. */
export const wellFormedRun = fc.tuple(
  fc.constantFrom(...agentWords, ""),
  fc.array(words, { minLength: 1, maxLength: 8 })
)
  .map(([agent, ws]) => `@porter ${agent} ${ws.join(" ")}`.replace(/ +/g, " "))

/** Comment bodies: commands, commands hidden where they must not count, and noise. */
export const commentBody = fc.oneof(
  { weight: 4, arbitrary: wellFormedRun },
  {
    weight: 4,
    arbitrary: fc.tuple(commandLine, fc.option(sentence, { nil: undefined })).map((
      [line, more]
    ) => (more ? `${line}\n${more}` : line))
  },
  { weight: 1, arbitrary: commandLine.map((line) => `\`\`\`\n${line}\n\`\`\``) },
  { weight: 1, arbitrary: commandLine.map((line) => `> ${line}`) },
  { weight: 1, arbitrary: commandLine.map((line) => `<!--\n${line}\n-->`) },
  { weight: 1, arbitrary: commandLine.map((line) => `\n    ${line.trim()}`) },
  { weight: 1, arbitrary: fc.tuple(sentence, commandLine).map(([before, line]) => `${before} ${line}`) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "@porter",
      "@porter help",
      "@porter status",
      "@porter cancel",
      "@porter retry",
      "@porters fix",
      "@porter-bot fix"
    )
  },
  { weight: 2, arbitrary: fc.string({ maxLength: 200 }) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 200 }) }
)

export type WebhookCase =
  | {
    readonly kind: "valid"
    readonly event: string
    readonly action: string
    readonly body: string
    readonly author: "User" | "Bot"
    readonly issueNumber: number
    readonly pullRequest: boolean
  }
  | {
    readonly kind: "bad signature"
    readonly how: "missing" | "random" | "other secret" | "sha1" | "tampered" | "truncated" | "uppercase"
  }
  | {
    readonly kind: "malformed"
    readonly how: "text" | "json" | "empty" | "wrong types" | "no event" | "no delivery" | "truncated json"
  }
  | { readonly kind: "oversized" }

export const webhookCase: fc.Arbitrary<WebhookCase> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("valid" as const),
      event: fc.constantFrom(
        "issue_comment",
        "issue_comment",
        "issue_comment",
        "issue_comment",
        "issue_comment",
        "issue_comment",
        "issues",
        "ping",
        "push",
        "pull_request"
      ),
      action: fc.constantFrom("created", "created", "created", "created", "edited", "deleted", "closed"),
      body: commentBody,
      author: fc.constantFrom("User" as const, "User" as const, "User" as const, "Bot" as const),
      issueNumber: fc.integer({ min: 1, max: 40 }),
      pullRequest: fc.boolean()
    })
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("bad signature" as const),
      how: fc.constantFrom(
        "missing" as const,
        "random" as const,
        "other secret" as const,
        "sha1" as const,
        "tampered" as const,
        "truncated" as const,
        "uppercase" as const
      )
    })
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("malformed" as const),
      how: fc.constantFrom(
        "text" as const,
        "json" as const,
        "empty" as const,
        "wrong types" as const,
        "no event" as const,
        "no delivery" as const,
        "truncated json" as const
      )
    })
  },
  { weight: 1, arbitrary: fc.constant({ kind: "oversized" as const }) }
)

let commentIds = 10_000

/** Any JSON value, as text (fast-check's own `json` arbitrary). */
const randomJson = fc.json({ maxDepth: 3 })

/** The request a case stands for; random parts come from `random` (a fast-check `Random`-backed generator). */
export const webhookRequest = (
  secret: string,
  testCase: WebhookCase,
  extra: { readonly text: string; readonly json: string; readonly valid: string; readonly maxBytes: number }
): Deliveries.Delivery => {
  const base = () =>
    JSON.stringify(
      Deliveries.issueComment({ body: "@porter script fix it", commentId: ++commentIds, installationId: 31 })
    )
  switch (testCase.kind) {
    case "valid": {
      const payload = Deliveries.issueComment({
        body: testCase.body,
        commentId: ++commentIds,
        issueNumber: testCase.issueNumber,
        action: testCase.action,
        installationId: 31,
        pullRequest: testCase.pullRequest,
        author: testCase.author === "Bot"
          ? { login: "dependabot[bot]", id: 49699333, type: "Bot" }
          : { login: "octocat", id: 583231, type: "User" }
      })
      // A closed pull request carries `pull_request`; every other event gets the comment's shape (ignored or closed).
      const shaped = testCase.event === "pull_request"
        ? { ...payload, pull_request: { number: testCase.issueNumber } }
        : payload
      return Deliveries.signed(secret, testCase.event, JSON.stringify(shaped))
    }
    case "bad signature": {
      const body = base()
      const good = Deliveries.signed(secret, "issue_comment", body)
      const headers = { ...good.headers }
      switch (testCase.how) {
        case "missing": {
          const { ["x-hub-signature-256"]: _dropped, ...rest } = headers
          return { body, headers: rest }
        }
        case "random":
          return {
            body,
            headers: { ...headers, "x-hub-signature-256": `sha256=${extra.text.padEnd(64, "0").slice(0, 64)}` }
          }
        case "other secret":
          return { body, headers: { ...headers, "x-hub-signature-256": Deliveries.signature(`${secret}x`, body) } }
        case "sha1":
          return { body, headers: { ...headers, "x-hub-signature-256": `sha1=${"ab".repeat(20)}` } }
        case "tampered":
          return { body: body.replace("fix it", `fix it${extra.text.length > 0 ? extra.text : "!"}`), headers }
        case "truncated":
          return { body, headers: { ...headers, "x-hub-signature-256": headers["x-hub-signature-256"]!.slice(0, 40) } }
        case "uppercase":
          return { body, headers: { ...headers, "x-hub-signature-256": headers["x-hub-signature-256"]!.toUpperCase() } }
      }
    }
    // falls through: every `how` returned above
    case "malformed": {
      switch (testCase.how) {
        case "text":
          return Deliveries.signed(secret, "issue_comment", extra.text.length > 0 ? extra.text : "not json")
        case "json":
          return Deliveries.signed(secret, "issue_comment", extra.json)
        case "empty":
          return Deliveries.signed(secret, "issue_comment", "")
        case "wrong types": {
          const payload = JSON.parse(base()) as { comment: { id: unknown; body: unknown } }
          payload.comment.id = "one"
          payload.comment.body = 42
          return Deliveries.signed(secret, "issue_comment", JSON.stringify(payload))
        }
        case "no event": {
          const { ["x-github-event"]: _dropped, ...rest } = Deliveries.signed(secret, "issue_comment", base()).headers
          return { body: JSON.stringify(JSON.parse(base())), headers: rest }
        }
        case "no delivery": {
          const signed = Deliveries.signed(secret, "issue_comment", base())
          const { ["x-github-delivery"]: _dropped, ...rest } = signed.headers
          return { body: signed.body, headers: rest }
        }
        case "truncated json": {
          const body = base()
          return Deliveries.signed(secret, "issue_comment", body.slice(0, Math.max(1, Math.floor(body.length / 2))))
        }
      }
    }
    // falls through
    case "oversized":
      return Deliveries.signed(secret, "issue_comment", `{"padding":"${"x".repeat(extra.maxBytes)}"}`)
  }
}

/** What fills the random parts of a webhook request. */
export const webhookExtras = fc.record({ text: fc.string({ maxLength: 80 }), json: randomJson })

export const outcome = fc.constantFrom("pushed", "no_changes", "agent_failed", "error")

/** Callback bodies: the three events with random fields, and broken ones. */
export const callbackBody = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      type: fc.constant("started"),
      step: fc.option(fc.string({ maxLength: 20 }), { nil: undefined })
    }).map((b) => ({ valid: true, terminal: false, text: JSON.stringify(b) }))
  },
  {
    weight: 3,
    arbitrary: fc.record({
      type: fc.constant("heartbeat"),
      step: fc.option(fc.string({ maxLength: 20 }), { nil: undefined })
    }).map((b) => ({ valid: true, terminal: false, text: JSON.stringify(b) }))
  },
  {
    weight: 1,
    arbitrary: fc.record({
      type: fc.constant("completed"),
      outcome,
      branch: fc.option(fc.string({ maxLength: 30 }), { nil: undefined }),
      summary: fc.option(fc.string({ maxLength: 200 }), { nil: undefined }),
      error: fc.option(fc.string({ maxLength: 100 }), { nil: undefined }),
      usage: fc.option(
        fc.record({
          inputTokens: fc.nat(),
          outputTokens: fc.nat(),
          costUsd: fc.double({ min: 0, max: 10, noNaN: true })
        }),
        { nil: undefined }
      )
    }).map((b) => ({ valid: true, terminal: true, text: JSON.stringify(b) }))
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 100 }).map((text) => ({ valid: false, terminal: false, text })) },
  { weight: 1, arbitrary: randomJson.map((text) => ({ valid: false, terminal: false, text })) },
  {
    weight: 1,
    arbitrary: fc.constantFrom("celebrate", "complete", "").map((type) => ({
      valid: false,
      terminal: false,
      text: JSON.stringify({ type })
    }))
  },
  {
    weight: 1,
    arbitrary: fc.constant({
      valid: false,
      terminal: false,
      text: JSON.stringify({ type: "completed", outcome: "won" })
    })
  },
  {
    weight: 1,
    arbitrary: fc.constant({
      valid: false,
      terminal: false,
      text: JSON.stringify({ type: "completed", outcome: "pushed", summary: "s".repeat(20_001) })
    })
  }
)

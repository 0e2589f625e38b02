/**
 * `.github/porter.yml`: decoding (problems with their line), precedence against a command's words and the
 * deployment's settings (which bound it), and what it does to a request end to end — the default agent, allowed
 * agents, models, timeout, setup commands and instructions on the machine, protected paths at publish time, and a
 * broken file reported on the issue.
 */
import { assert, describe, it } from "@effect/vitest"
import {
  AgentCatalog,
  ChangeRules,
  Command,
  Dispatcher,
  MachineEnv,
  RepoConfig,
  SecretStore,
  Settings
} from "@porter/core"
import { GitHubRecorder, Machines, Repositories } from "@porter/testing"
import { Effect, Option, Schema } from "effect"
import { layer, publish, REPO, runRequest, tasksOf, thread } from "./support/Lifecycle.ts"

const catalog = AgentCatalog.make(AgentCatalog.builtInAgents)
const decode = (text: string) => Effect.runSync(Effect.flip(RepoConfig.decode(text)))
const ok = (text: string) => Effect.runSync(RepoConfig.decode(text))

const resolve = (
  text: string,
  request: { agent?: string; model?: string; timeoutMs?: number; budgetUsd?: number } = {},
  settings = Settings.defaults
) =>
  RepoConfig.resolve(
    { file: ok(text), text },
    {
      agent: request.agent,
      model: request.model,
      timeoutMs: request.timeoutMs,
      budgetUsd: request.budgetUsd
    },
    settings,
    catalog.resolve
  )

describe("RepoConfig: decoding", () => {
  it("reads every setting", () => {
    assert.deepStrictEqual(
      ok(`# Porter here
agent: codex
agents: [claude, codex]
models:
  claude: opus
timeout: 45m
budget: 2.5
setup:
  - npm ci
  - npm run build
instructions: docs/agents.md
protected:
  - "infra/**"
  - "*.lock"
autofixCi: 2
`),
      {
        agent: "codex",
        agents: ["claude", "codex"],
        models: { claude: "opus" },
        timeout: "45m",
        budget: 2.5,
        setup: ["npm ci", "npm run build"],
        instructions: "docs/agents.md",
        protected: ["infra/**", "*.lock"],
        autofixCi: 2
      }
    )
    assert.deepStrictEqual(ok(""), {})
    assert.deepStrictEqual(ok("# nothing set\n"), {})
  })

  it("names the line of a problem", () => {
    const badTimeout = decode("agent: claude\n\ntimeout: soon\n")
    assert.strictEqual(badTimeout.line, 3)
    assert.include(badTimeout.message, "`.github/porter.yml` line 3: `timeout`")
    assert.include(badTimeout.message, "a duration like 20m")
    const typo = decode("agent: claude\nagnets: [codex]\n")
    assert.strictEqual(typo.line, 2)
    assert.include(typo.message, "`agnets` is not a setting")
    const yaml = decode("agent: claude\n  setup: x\n")
    assert.strictEqual(yaml.line, 2)
    assert.include(yaml.message, "not valid YAML")
    assert.include(decode("- a list\n- of things\n").message, "it must be a mapping of settings")
    assert.include(decode("setup: npm ci\n").message, "line 1: `setup`")
    assert.include(decode("protected: [/etc/passwd]\n").message, "a path inside the repository")
    assert.include(decode("budget: -1\n").message, "US dollars")
    assert.include(decode("agent: claude\nautofixCi: 11\n").message, "line 2: `autofixCi`")
  })
})

describe("RepoConfig: precedence", () => {
  it("a command's words beat the file, the file beats the deployment's defaults", () => {
    const file = "agent: codex\nmodels:\n  codex: o3\n  claude-code: opus\ntimeout: 45m\nbudget: 3\n"
    const fromFile = resolve(file)
    assert.strictEqual(fromFile._tag, "Resolved")
    if (fromFile._tag === "Resolved") {
      assert.strictEqual(fromFile.value.agent.name, "codex")
      assert.strictEqual(fromFile.value.model, "o3")
      assert.strictEqual(fromFile.value.timeoutMs, 45 * 60_000)
      assert.strictEqual(fromFile.value.budgetUsd, 3)
    }
    const named = resolve(file, { agent: "claude", timeoutMs: 60_000, budgetUsd: 1 })
    if (named._tag === "Resolved") {
      assert.strictEqual(named.value.agent.name, "claude")
      assert.strictEqual(named.value.model, "opus", "models are looked up through aliases")
      assert.strictEqual(named.value.timeoutMs, 60_000)
      assert.strictEqual(named.value.budgetUsd, 1)
    } else assert.fail(named.message)
    const none = resolve("")
    if (none._tag === "Resolved") {
      assert.strictEqual(none.value.agent.name, "claude")
      assert.strictEqual(none.value.timeoutMs, Settings.defaults.defaultTimeoutMs)
      assert.isUndefined(none.value.budgetUsd)
    } else assert.fail(none.message)
  })

  it("the deployment bounds the file; an agent the file does not allow does not run", () => {
    const notAllowed = resolve("agents: [claude]\n", { agent: "codex" })
    assert.deepStrictEqual(notAllowed, {
      _tag: "Problem",
      message: "`codex` may not run in this repository: `.github/porter.yml` line 1 allows `claude`."
    })
    const tooLong = resolve("agent: claude\ntimeout: 5h\n")
    assert.strictEqual(tooLong._tag, "Problem")
    if (tooLong._tag === "Problem") {
      assert.include(tooLong.message, "line 2: `timeout: 5h` is longer than this deployment")
    }
    const tooDear = resolve("budget: 5000\n")
    assert.strictEqual(tooDear._tag, "Problem")
    const unknown = resolve("agent: hal\n")
    assert.strictEqual(unknown._tag, "Problem")
    if (unknown._tag === "Problem") assert.include(unknown.message, "names `hal` as the default agent")
  })

  it("protected paths: globs within and across segments, bare names anywhere", () => {
    const test = (pattern: string, path: string) => ChangeRules.pathPattern(pattern).test(path)
    assert.isTrue(test("infra/**", "infra/prod/main.tf"))
    assert.isTrue(test("infra/", "infra/a"))
    assert.isFalse(test("infra/**", "src/infra/x"))
    assert.isTrue(test("*.lock", "yarn.lock"))
    assert.isTrue(test("*.lock", "packages/a/Cargo.lock"))
    assert.isTrue(test("src/*.ts", "src/a.ts"))
    assert.isFalse(test("src/*.ts", "src/a/b.ts"))
    assert.isTrue(test("docs/**/secret?.md", "docs/x/y/secret1.md"))
    assert.isFalse(test("package.json", "package-json"))
  })
})

const settingsWith = (patch: Partial<ConstructorParameters<typeof Settings.RepoSettings>[0]>) =>
  new Settings.RepoSettings({ ...Settings.defaults, ...patch })

describe("RepoConfig: on a request", () => {
  it.effect("the file's default agent, model, timeout, setup and instructions reach the machine", () =>
    Effect.gen(function*() {
      const recorder = yield* GitHubRecorder
      yield* recorder.seedFile(
        REPO,
        RepoConfig.PATH,
        "agent: codex\nmodels: { codex: gpt-5-codex }\ntimeout: 20m\nsetup: [npm ci]\ninstructions: AGENTS.md\n",
        "main"
      )
      yield* recorder.seedFile(REPO, "AGENTS.md", "Always run the linter.", "main")
      yield* (yield* Dispatcher.Dispatcher).start(
        yield* runRequest({ run: new Command.Run({ agent: "claude", defaultAgent: true, instructions: "fix it" }) })
      )
      const [task] = yield* tasksOf()
      assert.strictEqual(task!.agent, "codex")
      assert.strictEqual(task!.model, "gpt-5-codex")
      assert.strictEqual(task!.timeoutMs, 20 * 60_000)
      const [machine] = yield* (yield* Machines).created
      const env = Schema.decodeUnknownSync(MachineEnv.MachineEnv)(machine!.spec.env)
      assert.deepStrictEqual(env.SETUP_COMMANDS, ["npm ci"])
      assert.include(env.PROMPT, "Always run the linter.")
      assert.include(env.PROMPT, "This repository's instructions for agents (`AGENTS.md`")
    }).pipe(Effect.provide(layer({
      secrets: [{ scope: SecretStore.scopes.global, name: "OPENAI_API_KEY", value: "sk-test-openai-0123456789abcdef" }]
    }))))

  it.effect("a broken file: the issue is told which line, nothing runs", () =>
    Effect.gen(function*() {
      yield* (yield* GitHubRecorder).seedFile(REPO, RepoConfig.PATH, "agent: claude\ntimeout: forever\n")
      yield* (yield* Dispatcher.Dispatcher).start(yield* runRequest())
      assert.strictEqual((yield* tasksOf()).length, 0)
      const [reply] = yield* thread()
      assert.include(reply!.body, "`.github/porter.yml` line 2: `timeout`")
      assert.include(reply!.body, "Nothing was started.")
    }).pipe(Effect.provide(layer())))

  it.effect("an agent the file does not allow: the issue is told, nothing runs", () =>
    Effect.gen(function*() {
      yield* (yield* GitHubRecorder).seedFile(REPO, RepoConfig.PATH, "agents: [codex]\n")
      yield* (yield* Dispatcher.Dispatcher).start(yield* runRequest())
      assert.strictEqual((yield* tasksOf()).length, 0)
      assert.include((yield* thread())[0]!.body, "`claude` may not run in this repository")
    }).pipe(Effect.provide(layer({ secrets: [], settings: settingsWith({}) }))))

  it.effect("protected paths: a change set touching one is refused, nothing is committed", () =>
    Effect.gen(function*() {
      yield* (yield* GitHubRecorder).seedFile(REPO, RepoConfig.PATH, "protected: [\"infra/**\"]\n")
      yield* (yield* Dispatcher.Dispatcher).start(yield* runRequest())
      const [task] = yield* tasksOf()
      const refused = yield* Effect.flip(publish(task!.id, [{ path: "infra/main.tf", content: "x\n" }]))
      assert.strictEqual(refused._tag, "ChangesRefused")
      const [after] = yield* tasksOf()
      assert.strictEqual(after!.state, "failed")
      assert.include(
        after!.reason!,
        "`infra/main.tf` is protected in this repository (`infra/**` in .github/porter.yml)"
      )
      const written = yield* (yield* Repositories).written(after!.repo)
      assert.strictEqual(written.length, 0)
      assert.isTrue(Option.isNone(Option.fromNullishOr(after!.prUrl)))
    }).pipe(Effect.provide(layer())))
})

import { assert, describe, it } from "@effect/vitest"
import { MachineEnv } from "@porter/runner"
import { Redacted, Result } from "effect"

const valid: Record<string, string> = {
  TASK_ID: "task_01hx0000000000000000000000",
  REPO_FULL_NAME: "octo/demo",
  REPO_CLONE_URL: "https://porter.example/git/tasks/task_01hx0000000000000000000000",
  BRANCH: "porter/7-00000000",
  ISSUE_NUMBER: "7",
  ISSUE_TITLE: "Fix the date parser",
  AGENT: "claude",
  PROMPT: "do it",
  CALLBACK_URL: "https://porter.example/callbacks/tasks/task_01hx0000000000000000000000",
  TASK_DEADLINE: "2030-01-01T00:00:00.000Z",
  HEARTBEAT_INTERVAL_MS: "30000",
  CALLBACK_TOKEN: "cbt_secret_token_value",
  ANTHROPIC_API_KEY: "sk-ant-secret-value"
}

describe("MachineEnv", () => {
  it("with a model gateway, every CLI is pointed at it with the gateway credential; the raw names stay hidden", () => {
    const { ANTHROPIC_API_KEY: _, ...noKey } = valid
    const gateway = "https://porter.example/gateway/tasks/task_01hx0000000000000000000000"
    const decoded = MachineEnv.decode({
      ...noKey,
      MODEL_GATEWAY_URL: gateway,
      GATEWAY_TOKEN: "gateway-credential-value",
      // A deployment's stale direct URL loses to the gateway.
      ANTHROPIC_BASE_URL: "http://127.0.0.1:9"
    })
    assert.isTrue(Result.isSuccess(decoded))
    if (!Result.isSuccess(decoded)) return
    assert.strictEqual(decoded.success.gatewayUrl, gateway)
    assert.strictEqual(String(decoded.success.gatewayToken), "<redacted>")
    const agent = MachineEnv.agentEnvironment(decoded.success, {})
    assert.strictEqual(agent["ANTHROPIC_BASE_URL"], `${gateway}/anthropic`)
    assert.strictEqual(agent["OPENAI_BASE_URL"], `${gateway}/openai/v1`)
    assert.strictEqual(agent["GOOGLE_GEMINI_BASE_URL"], `${gateway}/gemini`)
    for (const key of ["ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY"]) {
      assert.strictEqual(agent[key], "gateway-credential-value", key)
    }
    for (const hidden of ["GATEWAY_TOKEN", "MODEL_GATEWAY_URL", "CALLBACK_TOKEN"]) assert.notProperty(agent, hidden)
    assert.isTrue(MachineEnv.isSecretName("GATEWAY_TOKEN"))
    assert.include(MachineEnv.secretValues({ GATEWAY_TOKEN: "gateway-credential-value" }), "gateway-credential-value")
  })

  it("decodes what Porter.dispatch sends; secrets stay Redacted", () => {
    const decoded = MachineEnv.decode(valid)
    assert.isTrue(Result.isSuccess(decoded))
    if (!Result.isSuccess(decoded)) return
    const env = decoded.success
    assert.strictEqual(env.issueNumber, 7)
    assert.strictEqual(env.baseBranch, undefined)
    assert.strictEqual(env.cloneUrl, "https://porter.example/git/tasks/task_01hx0000000000000000000000")
    assert.strictEqual(env.deadlineAt, Date.parse("2030-01-01T00:00:00.000Z"))
    assert.strictEqual(Redacted.value(env.callbackToken), "cbt_secret_token_value")
    assert.strictEqual(String(env.callbackToken), "<redacted>")
    // No GitHub token in the contract: a machine cannot write to the repository.
    assert.notProperty(env, "githubToken")
  })

  it("names every missing or malformed variable and never prints a value", () => {
    const { ISSUE_NUMBER: _, REPO_CLONE_URL: __, ...rest } = valid
    const decoded = MachineEnv.decode({ ...rest, ISSUE_NUMBER: "seven", TASK_DEADLINE: "soon", CALLBACK_TOKEN: "" })
    assert.isTrue(Result.isFailure(decoded))
    if (!Result.isFailure(decoded)) return
    const message = decoded.failure.message
    assert.include(message, "REPO_CLONE_URL is not set")
    assert.include(message, "CALLBACK_TOKEN is not set")
    assert.match(message, /ISSUE_NUMBER is malformed/)
    assert.match(message, /TASK_DEADLINE is malformed/)
    for (const secret of ["sk-ant-secret-value", "cbt_secret_token_value"]) {
      assert.notInclude(message, secret)
    }
  })

  it("clones in full unless PORTER_CLONE_FILTER=blob:none", () => {
    const filterOf = (extra: Record<string, string>) => {
      const decoded = MachineEnv.decode({ ...valid, ...extra })
      return Result.isSuccess(decoded) ? decoded.success.cloneFilter : assert.fail("decode")
    }
    assert.isFalse(filterOf({}))
    assert.isFalse(filterOf({ PORTER_CLONE_FILTER: "none" }))
    assert.isTrue(filterOf({ PORTER_CLONE_FILTER: "blob:none" }))
    assert.isTrue(Result.isFailure(MachineEnv.decode({ ...valid, PORTER_CLONE_FILTER: "tree:0" })))
  })

  it("refuses a task branch equal to the base branch", () => {
    const decoded = MachineEnv.decode({ ...valid, BASE_BRANCH: "main", BRANCH: "main" })
    assert.isTrue(Result.isFailure(decoded))
  })

  it("strips credentials from the clone URL and treats the password as a secret", () => {
    const decoded = MachineEnv.decode({
      ...valid,
      REPO_CLONE_URL: "https://x-access-token:pw_in_url_123@github.com/octo/demo.git"
    })
    assert.isTrue(Result.isSuccess(decoded))
    if (!Result.isSuccess(decoded)) return
    assert.strictEqual(decoded.success.cloneUrl, "https://github.com/octo/demo.git")
    assert.include(MachineEnv.secretValues(decoded.success.raw), "pw_in_url_123")
  })

  it("gives the agent no task token (nor a GitHub token a host left) but its own keys", () => {
    const decoded = MachineEnv.decode({ ...valid, GITHUB_TOKEN: "ghs_left_by_a_host", GH_TOKEN: "ghs_another" })
    if (!Result.isSuccess(decoded)) return assert.fail("decode")
    const agentEnv = MachineEnv.agentEnvironment(decoded.success, { IS_SANDBOX: "1" })
    assert.isUndefined(agentEnv["GITHUB_TOKEN"])
    assert.isUndefined(agentEnv["GH_TOKEN"])
    assert.isUndefined(agentEnv["CALLBACK_TOKEN"])
    assert.isUndefined(agentEnv["PROMPT"])
    assert.strictEqual(agentEnv["ANTHROPIC_API_KEY"], "sk-ant-secret-value")
    assert.strictEqual(agentEnv["IS_SANDBOX"], "1")
  })

  it("knows which variables are secret", () => {
    for (
      const name of [
        "GITHUB_TOKEN",
        "CALLBACK_TOKEN",
        "ANTHROPIC_API_KEY",
        "OPENAI_API_KEY",
        "AMP_API_KEY",
        "CLAUDE_CODE_OAUTH_TOKEN",
        "MY_SERVICE_SECRET"
      ]
    ) {
      assert.isTrue(MachineEnv.isSecretName(name), name)
    }
    for (const name of ["ANTHROPIC_BASE_URL", "PATH", "HOME", "GIT_AUTHOR_NAME", "HEARTBEAT_INTERVAL_MS", "PROMPT"]) {
      assert.isFalse(MachineEnv.isSecretName(name), name)
    }
  })
})

/**
 * What a task's machine is asked for: the machine environment (encoded through the `MachineEnv` schema the runner
 * decodes), the task's two credentials (callbacks; model gateway), the branch. Provider keys never go to the machine
 * (but Amp's: `keysOnMachine`). Pure: the Dispatcher gathers the inputs and sends the result.
 */
import { Effect, Option, type Redacted, Result, Schema } from "effect"
import type { AgentSpec } from "./Agent.ts"
import { MissingSecret } from "./Errors.ts"
import { shortTaskId } from "./Ids.ts"
import * as MachineEnv from "./MachineEnv.ts"
import type { MachineSpec } from "./MachineProvisioner.ts"
import type { PorterOptions } from "./PorterConfig.ts"
import { gatewayUrl } from "./Providers.ts"
import { type ResolvedSecret, SecretName } from "./SecretStore.ts"
import type { Task } from "./Task.ts"

/** The branch a task's work goes to: the pull request's branch for a follow-up, else `porter/<issue>-<id>`. */
/** What the name of every branch Porter makes starts with (`porter/<issue>-<task>`). */
export const BRANCH_PREFIX = "porter/"

/** The branch a task works on: the pull request's head, or `porter/<issue>-<task>`. */
export const branchFor = (task: Pick<Task, "id" | "issueNumber" | "headBranch">): string =>
  task.headBranch ?? `${BRANCH_PREFIX}${task.issueNumber}-${shortTaskId(task.id)}`

/** The issue a branch Porter made was for (`porter/<issue>-<task>`); `undefined` for any other name. */
export const issueOfBranch = (branch: string): number | undefined => {
  const match = /^(\d+)-/.exec(branch.slice(BRANCH_PREFIX.length))
  return branch.startsWith(BRANCH_PREFIX) && match !== null ? Number(match[1]) : undefined
}

const decodeSecretName = Schema.decodeUnknownOption(SecretName)

/** Every secret name the agent may use (required alternatives and optional ones). */
export const secretNamesOf = (agent: AgentSpec): ReadonlyArray<SecretName> =>
  agent.secrets.flatMap((requirement) => requirement.names.flatMap((raw) => Option.toArray(decodeSecretName(raw))))

/**
 * The agent's secret environment from what the task's chain resolved: for each requirement the first of its names
 * that is set; `MissingSecret` for a required one that none is. Empty unless the agent keeps its keys on the machine
 * (`keysOnMachine`, Amp): every other agent's keys stay in Porter, whose gateway attaches them to its calls.
 */
export const agentSecrets = (
  agent: AgentSpec,
  found: ReadonlyMap<SecretName, ResolvedSecret>,
  repo: string
): Result.Result<Record<string, Redacted.Redacted<string>>, MissingSecret> => {
  const env: Record<string, Redacted.Redacted<string>> = {}
  for (const requirement of agent.secrets) {
    const name = requirement.names.find((raw) => found.has(raw as SecretName))
    if (name !== undefined) {
      if (agent.keysOnMachine === true) env[name] = found.get(name as SecretName)!.value
    } else if (requirement.optional !== true) {
      return Result.fail(
        new MissingSecret({ agent: agent.name, names: [...requirement.names], repo })
      )
    }
  }
  return Result.succeed(env)
}

/** What a machine request is made from: the task, its agent, the prompt and the rest. */
export interface MachineRequestInput {
  /** The task, as it is being dispatched. */
  readonly task: Task
  readonly agent: AgentSpec
  readonly prompt: string
  readonly issueTitle: string
  readonly agentEnv: Readonly<Record<string, Redacted.Redacted<string>>>
  readonly callbackToken: Redacted.Redacted<string>
  /** The task's gateway credential (`TaskTokens.issue(id, "gateway")`), for agents whose calls go through Porter. */
  readonly gatewayToken: Redacted.Redacted<string>
  /** The provisioner credential of the task's owner, if one is stored. */
  readonly credential: Redacted.Redacted<string> | undefined
  /** The repository's setup commands (`.github/porter.yml`), run before the agent. */
  readonly setup?: ReadonlyArray<string> | undefined
  /** A continuation whose agent resumes the earlier task's session (the runner fetches it from Porter). */
  readonly resume?: boolean | undefined
}

/** The machine for a task, or a `SchemaError` naming the variable that cannot be sent. */
export const machineSpec = (
  config: PorterOptions,
  input: MachineRequestInput
): Effect.Effect<MachineSpec, Schema.SchemaError> => {
  const { agent, task } = input
  const model = task.model ?? agent.defaultModel
  const gateway = agent.keysOnMachine !== true
  const env: MachineEnv.MachineEnv = {
    TASK_ID: task.id,
    REPO_FULL_NAME: task.repo.fullName,
    // The machine clones through Porter (read-only, with its task token): it holds no GitHub token.
    REPO_CLONE_URL: `${config.publicUrl}/git/tasks/${task.id}`,
    ...(task.baseBranch !== undefined ? { BASE_BRANCH: task.baseBranch } : {}),
    ...(task.headBranch !== undefined ? { HEAD_BRANCH: task.headBranch } : {}),
    BRANCH: branchFor(task),
    ISSUE_NUMBER: task.issueNumber,
    ISSUE_TITLE: input.issueTitle,
    AGENT: task.agent,
    PROMPT: input.prompt,
    ...(model !== undefined ? { MODEL: model } : {}),
    CALLBACK_URL: `${config.publicUrl}/callbacks/tasks/${task.id}`,
    ...(gateway ? { MODEL_GATEWAY_URL: gatewayUrl(config.publicUrl, task.id) } : {}),
    TASK_DEADLINE: new Date(task.deadlineAt).toISOString(),
    HEARTBEAT_INTERVAL_MS: config.heartbeatIntervalMs,
    REQUESTED_BY: task.requestedBy.login,
    ...(task.mode === "ask" ? { TASK_MODE: "ask" as const } : {}),
    ...(input.setup !== undefined && input.setup.length > 0 ? { SETUP_COMMANDS: input.setup } : {}),
    ...(input.resume === true ? { RESUME_SESSION: "true" as const } : {})
  }
  return Effect.map(MachineEnv.encode(env), (encoded): MachineSpec => ({
    taskId: task.id,
    ...(config.machineImage !== undefined ? { image: config.machineImage } : {}),
    guest: config.guest,
    deadlineAt: task.deadlineAt,
    ...(config.region !== undefined ? { region: config.region } : {}),
    ...(input.credential !== undefined ? { credential: input.credential } : {}),
    // The deployment's extra variables (local model servers, runner knobs) go first: the contract's win.
    env: { ...config.machineEnv, ...encoded },
    secretEnv: {
      ...input.agentEnv,
      ...MachineEnv.secretVariables({
        CALLBACK_TOKEN: input.callbackToken,
        ...(gateway ? { GATEWAY_TOKEN: input.gatewayToken } : {})
      })
    }
  }))
}

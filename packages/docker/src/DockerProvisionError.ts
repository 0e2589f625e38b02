/**
 * The Docker Engine's failures as the user reads them (on the issue, in the CLI): a `DockerEngineError` becomes a
 * `ProvisionError` whose reason drives the orchestration and whose message says what to fix — start dockerd, fix
 * `DOCKER_HOST` or its permissions, build or load the runner image — and whether to retry.
 */
import { Errors } from "@porter/core"
import type * as DockerEngine from "./DockerEngine.ts"

const RETRY_HINT = Errors.PROVISION_RETRY_HINT

/** A failed Engine call, as the user reads it (on the issue, in the CLI). */
export const toProvisionError = (
  error: DockerEngine.DockerEngineError,
  context: { readonly image?: string | undefined } = {}
): Errors.ProvisionError => {
  const make = Errors.provisionErrorsOf(error)
  const said = error.engineMessage ? `: ${error.engineMessage}` : ""
  switch (error.kind) {
    case "transport": {
      if (error.code === "EACCES" || error.code === "EPERM") {
        return make(
          "unauthorized",
          `permission denied on the Docker daemon at ${error.host}: run Porter as a user who may use it (the ` +
            "`docker` group) or set DOCKER_HOST to a daemon you can reach"
        )
      }
      return make(
        "unavailable",
        `could not reach the Docker daemon at ${error.host} (${
          error.code ?? error.detail ?? "no answer"
        }): is dockerd ` +
          "running? Start it, or set DOCKER_HOST to its address (unix:///var/run/docker.sock, tcp://host:2375)"
      )
    }
    case "timeout":
      return make(
        "unavailable",
        `the Docker daemon at ${error.host} did not answer (${error.op}); is it overloaded? ${RETRY_HINT}`
      )
    case "malformed":
      return make(
        "unknown",
        `the Docker daemon at ${error.host} sent an answer Porter does not understand (${error.op}: ${
          error.detail ?? "?"
        })`
      )
    case "status":
      break
  }
  const status = error.status ?? 0
  if (status === 404 && context.image !== undefined && /image/i.test(error.engineMessage ?? "")) {
    return make(
      "not_found",
      `the runner image \`${context.image}\` is not on the Docker host ${error.host}. Build it (in a Porter checkout: ` +
        `\`docker build -t ${context.image} worker-image/\`), load or pull it, or set PORTER_MACHINE_IMAGE to an image ` +
        "the host has; Porter does not pull images"
    )
  }
  if (status === 404) return make("not_found", `Docker has no such container (${error.op}${said})`)
  if (status === 400) return make("bad_config", `Docker refused the container settings (${error.op}${said})`)
  if (status === 401 || status === 403) {
    return make("unauthorized", `the Docker daemon refused ${error.op} (${status}${said})`)
  }
  if (status === 409) {
    return make("conflict", `Docker refused ${error.op} in the container's current state (409${said})`)
  }
  if (status >= 500) {
    return make("unavailable", `the Docker daemon failed to ${error.op} (${status}${said}); ${RETRY_HINT} later`)
  }
  return make("unknown", `the Docker daemon answered ${status} to ${error.op}${said}`)
}

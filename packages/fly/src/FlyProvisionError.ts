/**
 * Fly's failures as the user reads them on the issue: a failed call (`FlyApiError`) becomes a `ProvisionError` whose
 * reason drives the orchestration and whose message says what to fix (token, app, region, size) and whether to
 * retry; a create's error is first cleared of the spec's secret values, which Fly's validation text may quote.
 * `FlyApps` words its failures the same way.
 */
import { Errors, type MachineProvisioner } from "@porter/core"
import { Redacted } from "effect"
import type * as FlyApi from "./FlyApi.ts"
import * as FlyHttp from "./FlyHttp.ts"
import { seconds } from "./FlyMachineMapping.ts"

/**
 * A create's error without the spec's secret values: Fly's error text (a validation message may quote the config it
 * refused) becomes the `ProvisionError` message, which the orchestration puts on the issue.
 */
export const withoutSecrets = (
  error: FlyHttp.FlyApiError,
  secretEnv: MachineProvisioner.MachineSpec["secretEnv"]
): FlyHttp.FlyApiError => {
  const values = Object.values(secretEnv).map((value) => Redacted.value(value)).filter((value) => value.length >= 6)
  if (values.length === 0) return error
  const scrub = (text: string | undefined) =>
    text === undefined ? undefined : values.reduce((out, value) => out.split(value).join("<redacted>"), text)
  return new FlyHttp.FlyApiError({ ...error, flyError: scrub(error.flyError), detail: scrub(error.detail) })
}

/** Which setting a Fly validation error is about, named for the user. */
const fieldOf = (text: string, body: FlyApi.CreateMachineRequest | undefined): string => {
  const t = text.toLowerCase()
  const guest = body?.config.guest
  if (/memory/.test(t)) {
    return `the machine memory (\`guest.memory_mb\` = ${guest?.memory_mb ?? "?"}, set with PORTER_MACHINE_MEMORY_MB)`
  }
  if (/cpu_kind|cpu kind/.test(t)) return `the CPU kind (\`guest.cpu_kind\` = ${guest?.cpu_kind ?? "?"})`
  if (/cpu/.test(t)) return `the CPU count (\`guest.cpus\` = ${guest?.cpus ?? "?"}, set with PORTER_MACHINE_CPUS)`
  if (/image/.test(t)) return `the image (\`image\` = ${body?.config.image ?? "?"}, set with PORTER_MACHINE_IMAGE)`
  if (/region/.test(t)) {
    return `the region (\`region\` = ${body?.region ?? "unset"}, set with PORTER_MACHINE_REGION or FLY_REGION)`
  }
  if (/\benv\b|environment/.test(t)) return "the machine environment (`env`)"
  if (/restart/.test(t)) return "the restart policy (`restart`)"
  if (/metadata/.test(t)) return "the machine metadata (`metadata`)"
  if (/name/.test(t)) return "the machine name (`name`)"
  const size = `${guest?.cpus ?? "?"} ${guest?.cpu_kind ?? "?"} CPU(s), ${guest?.memory_mb ?? "?"} MB`
  return `the machine settings (image ${body?.config.image ?? "?"}, ${size}${
    body?.region ? `, region ${body.region}` : ""
  })`
}

const RETRY_HINT = Errors.PROVISION_RETRY_HINT

/** A failed call, as the user reads it on the issue. */
export const toProvisionError = (
  error: FlyHttp.FlyApiError,
  context: { readonly app: string; readonly apiUrl: string; readonly body?: FlyApi.CreateMachineRequest | undefined }
): Errors.ProvisionError => {
  const fly = error.flyError ? `: ${error.flyError}` : ""
  const tries = error.attempts > 1 ? ` after ${error.attempts} attempts in ${seconds(error.elapsedMs)}` : ""
  const make = Errors.provisionErrorsOf(error)
  switch (error.kind) {
    case "transport":
    case "timeout":
      return make(
        "unavailable",
        `could not reach the Fly Machines API at ${context.apiUrl} (${error.detail ?? error.kind})${tries}; ` +
          `${RETRY_HINT} later`
      )
    case "invalid":
      return make(
        "bad_config",
        `the Fly request could not be built (${error.detail ?? "invalid"}); check FLY_API_URL and FLY_APP_NAME`
      )
    case "malformed":
      return make("unknown", `the Fly Machines API sent an answer Porter does not understand (${error.detail ?? "?"})`)
    case "status":
      break
  }
  const status = error.status ?? 0
  if (status === 401 || status === 403) {
    return make(
      "unauthorized",
      `Fly rejected the API token (${status}${fly})${
        status === 403 ? `: it has no access to the Fly app \`${context.app}\`` : ""
      }. Set a valid FLY_API_TOKEN with \`porter secrets set FLY_API_TOKEN …\` (for your user, this repository or ` +
        `the installation) or fix the deployment's FLY_API_TOKEN, then ${RETRY_HINT}.`
    )
  }
  if (error.flyStatus === "insufficient_capacity") {
    return make(
      "unavailable",
      `Fly has no capacity for this machine (${status}${fly})${tries}; try another region (PORTER_MACHINE_REGION) or a ` +
        `smaller size, or ${RETRY_HINT} later.`
    )
  }
  if (status === 404) {
    return make(
      "not_found",
      `Fly has no app \`${context.app}\` that this token can see (404${fly}). ` +
        `Create it (\`fly apps create ${context.app}\`) or set FLY_APP_NAME to an existing app, then ${RETRY_HINT}.`
    )
  }
  if (status === 422 || status === 400) {
    return make(
      "bad_config",
      `Fly refused the machine configuration (${status}${fly}); check ${fieldOf(error.flyError ?? "", context.body)}.`
    )
  }
  if (status === 409 || status === 412) {
    return make("conflict", `Fly refused the request in the machine's current state (${status}${fly}).`)
  }
  if (status === 429) {
    return make(
      "rate_limited",
      `Fly kept rate-limiting Porter's requests (429${fly})${tries}; wait a minute, then ${RETRY_HINT}.`
    )
  }
  if (status >= 500) {
    return make("unavailable", `the Fly Machines API failed (${status}${fly})${tries}; ${RETRY_HINT} later.`)
  }
  return make("unknown", `the Fly Machines API answered ${status}${fly}.`)
}

/** No token in the call and none for the deployment. */
export const noToken = new Errors.ProvisionError({
  reason: "unauthorized",
  message: "no Fly API token is set. Set FLY_API_TOKEN with `porter secrets set FLY_API_TOKEN …` (for your user, " +
    "this repository or the installation) or configure the deployment's FLY_API_TOKEN, then comment `@porter retry`."
})

/** The operator page: the doctor's findings and key rotation (what `porter doctor` and `porter secrets rotate` do). */
import type { Api, SecretStore } from "@porter/core"
import { html } from "../Html.ts"
import { csrfField, type Frame, notice, page } from "./Layout.ts"

const MARK = { pass: "✓ pass", fail: "✗ fail", warn: "! warn", skip: "- skip" } as const

export const render = (options: {
  readonly frame: Frame
  readonly doctor: Api.DoctorReport
  readonly rotation?: SecretStore.RotationReport | undefined
}): string => {
  const { doctor, rotation } = options
  const body = html`<h1>Operator</h1>
${
    rotation !== undefined && notice(
      `Key rotation: ${rotation.rotated} secrets re-encrypted under ${rotation.currentKeyId}, ${rotation.failed} could not be read${
        rotation.failures.length > 0
          ? ` (${rotation.failures.map((f) => `${f.scope}/${f.name} under ${f.keyId}`).join(", ")})`
          : ""
      }.`,
      rotation.failed > 0 ? "bad" : "info"
    )
  }
<h2>Doctor</h2>
<p>${doctor.ok ? "All required checks passed." : "Some checks failed: fix the lines marked fail."}</p>
<table><caption>What the doctor checked</caption>
<thead><tr><th scope="col">Check</th><th scope="col">Result</th><th scope="col">Details</th></tr></thead>
<tbody>${
    doctor.checks.map((check) =>
      html`<tr><td>${check.name}</td><td class="${check.status === "fail" ? "state state-failed" : "state"}">${
        MARK[check.status]
      }</td><td>${check.message}</td></tr>`
    )
  }</tbody></table>
<h2>Encryption keys</h2>
<p>Re-encrypts every stored secret that is not under the current key (set the new key, keep the old one as retired,
rotate, then drop the old one once nothing failed).</p>
<form method="post" action="/app/operator/rotate">${
    csrfField(options.frame.csrf)
  }<button type="submit">Rotate keys</button></form>`
  return page({ title: "Operator", frame: options.frame, section: "operator", body })
}

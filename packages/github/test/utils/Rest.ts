/** Plain REST calls to the emulator as any user (what a person or another client would do). */
import { Effect } from "effect"

export interface Answer {
  readonly status: number
  readonly json: unknown
}

export const call = (baseUrl: string, token: string, method: string, path: string, body?: unknown) =>
  Effect.promise(async (): Promise<Answer> => {
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        accept: "application/vnd.github+json",
        ...(body !== undefined ? { "content-type": "application/json" } : {})
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {})
    })
    const text = await response.text()
    return { status: response.status, json: text.length > 0 ? JSON.parse(text) : undefined }
  })

/** Like `call`, but fails the test on anything but 2xx. */
export const ok = <A = unknown>(baseUrl: string, token: string, method: string, path: string, body?: unknown) =>
  Effect.flatMap(call(baseUrl, token, method, path, body), (answer) =>
    answer.status >= 200 && answer.status < 300
      ? Effect.succeed(answer.json as A)
      : Effect.die(new Error(`${method} ${path} → ${answer.status} ${JSON.stringify(answer.json)}`)))

import { assert, describe, it } from "@effect/vitest"
import { LogBuffer } from "@porter/local"

const texts = (lines: ReadonlyArray<LogBuffer.OutputLine>) => lines.map((l) => l.text)
const bytes = (text: string) => new TextEncoder().encode(text)

describe("LogBuffer", () => {
  it("turns chunks into lines, across chunk borders and CRLF", () => {
    const buffer = LogBuffer.make()
    assert.deepStrictEqual(texts(buffer.push("one\ntw", 1)), ["one"])
    assert.deepStrictEqual(texts(buffer.push("o\r\nthree", 2)), ["two"])
    assert.deepStrictEqual(texts(buffer.end(3)), ["three"])
    assert.deepStrictEqual(texts(buffer.lines()), ["one", "two", "three"])
    assert.deepStrictEqual(buffer.lines().map((l) => l.at), [1, 2, 3])
  })

  it("decodes UTF-8 characters split between chunks", () => {
    const buffer = LogBuffer.make()
    const all = bytes("héllo ✓\n")
    buffer.push(all.subarray(0, 2), 1)
    buffer.push(all.subarray(2, 8), 1)
    buffer.push(all.subarray(8), 1)
    assert.deepStrictEqual(texts(buffer.lines()), ["héllo ✓"])
  })

  it("keeps the newest lines within its budget and counts the dropped ones", () => {
    const buffer = LogBuffer.make({ maxBytes: 100 })
    for (let i = 0; i < 100; i++) buffer.push(`line ${String(i).padStart(3, "0")}\n`, i)
    const kept = texts(buffer.lines())
    assert.strictEqual(kept.at(-1), "line 099")
    assert.isAtMost(kept.join("").length, 100)
    assert.strictEqual(kept.length + buffer.dropped(), 100)
    // Oldest first, no gaps.
    assert.deepStrictEqual(
      kept,
      Array.from({ length: kept.length }, (_, i) => `line ${String(100 - kept.length + i).padStart(3, "0")}`)
    )
  })

  it("cuts overlong lines, also without a newline", () => {
    const buffer = LogBuffer.make({ maxBytes: 1000, maxLineBytes: 10 })
    assert.deepStrictEqual(texts(buffer.push("a".repeat(25), 1)), ["a".repeat(10), "a".repeat(10)])
    assert.deepStrictEqual(texts(buffer.push("b\n", 2)), ["aaaaab"])
    assert.deepStrictEqual(texts(buffer.push(`${"c".repeat(12)}\n`, 3)), ["c".repeat(10), "cc"])
  })

  it("stays bounded under a flood", () => {
    const buffer = LogBuffer.make({ maxBytes: 4096 })
    const chunk = "y".repeat(999) + "\n"
    for (let i = 0; i < 20_000; i++) buffer.push(chunk, i)
    assert.isAtMost(texts(buffer.lines()).join("").length, 4096)
    assert.isAtLeast(buffer.lines().length, 4)
  })
})

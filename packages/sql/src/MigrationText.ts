/**
 * Migration files split into statements, per dialect, so each runs alone through `SqlClient` (or a D1 batch):
 *
 * - SQLite (`splitSqlite`): SQLite's own `sqlite3_complete` automaton (complete.c), which wrangler also uses — a `;`
 *   ends a statement except inside `CREATE TRIGGER … BEGIN … END`;
 * - PostgreSQL (`splitPostgres`): a `;` ends a statement except inside quotes, comments and dollar-quoted bodies
 *   (`$$ … $$`, `$fn$ … $fn$`: trigger functions).
 *
 * Comments stay inside statements; empty statements are dropped.
 */

type Token = "semi" | "ws" | "other" | "explain" | "create" | "temp" | "trigger" | "end"
type State = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7

// SQLite's own `sqlite3_complete` automaton (complete.c), which wrangler also uses: a `;` ends a
// statement except inside `CREATE TRIGGER … BEGIN … END`.
// States: 0 invalid, 1 start, 2 normal, 3 explain, 4 create, 5 trigger, 6 semi, 7 end.
const columns: Record<Token, number> = { semi: 0, ws: 1, other: 2, explain: 3, create: 4, temp: 5, trigger: 6, end: 7 }
const transitions: ReadonlyArray<ReadonlyArray<State>> = [
  [1, 0, 2, 3, 4, 2, 2, 2],
  [1, 1, 2, 3, 4, 2, 2, 2],
  [1, 2, 2, 2, 2, 2, 2, 2],
  [1, 3, 3, 2, 4, 2, 2, 2],
  [1, 4, 2, 2, 2, 4, 5, 2],
  [6, 5, 5, 5, 5, 5, 5, 5],
  [6, 6, 5, 5, 5, 5, 5, 7],
  [1, 7, 5, 5, 5, 5, 5, 5]
]

const keyword = (word: string): Token => {
  switch (word.toLowerCase()) {
    case "explain":
      return "explain"
    case "create":
      return "create"
    case "temp":
    case "temporary":
      return "temp"
    case "trigger":
      return "trigger"
    case "end":
      return "end"
    default:
      return "other"
  }
}

/** Splits a SQLite file into statements (comments kept inside statements, empty ones dropped). */
export const splitSqlite = (text: string): Array<string> => {
  const statements: Array<string> = []
  let state: State = 0
  let start = 0
  let useful = false
  let i = 0
  const push = (end: number) => {
    const statement = text.slice(start, end).trim()
    if (useful && statement.length > 0) statements.push(statement)
    start = end + 1
    useful = false
  }
  while (i < text.length) {
    const char = text[i]!
    let token: Token
    if (char === ";") {
      token = "semi"
    } else if (/\s/.test(char)) {
      token = "ws"
    } else if (char === "-" && text[i + 1] === "-") {
      const end = text.indexOf("\n", i)
      i = end === -1 ? text.length - 1 : end
      token = "ws"
    } else if (char === "/" && text[i + 1] === "*") {
      const end = text.indexOf("*/", i + 2)
      i = end === -1 ? text.length - 1 : end + 1
      token = "ws"
    } else if (char === "'" || char === "\"" || char === "`" || char === "[") {
      const close = char === "[" ? "]" : char
      let j = i + 1
      // Doubled quotes escape themselves ('it''s').
      while (j < text.length && !(text[j] === close && text[j + 1] !== close)) j += text[j] === close ? 2 : 1
      i = j
      token = "other"
    } else if (/[A-Za-z0-9_$\u0080-\uffff]/.test(char)) {
      let j = i
      while (j + 1 < text.length && /[A-Za-z0-9_$\u0080-\uffff]/.test(text[j + 1]!)) j++
      token = keyword(text.slice(i, j + 1))
      i = j
    } else {
      token = "other"
    }
    if (token !== "semi" && token !== "ws") useful = true
    state = transitions[state]![columns[token]]!
    if (state === 1 && token === "semi") push(i)
    i++
  }
  push(text.length)
  return statements
}

/** Splits a PostgreSQL file into statements (comments kept inside statements, empty ones dropped). */
export const splitPostgres = (text: string): Array<string> => {
  const statements: Array<string> = []
  let start = 0
  let i = 0
  const push = (end: number) => {
    const statement = text.slice(start, end).trim()
    if (statement.replace(/--[^\n]*|\/\*[\s\S]*?\*\//g, "").trim().length > 0) statements.push(statement)
    start = end + 1
  }
  while (i < text.length) {
    const char = text[i]!
    if (char === "-" && text[i + 1] === "-") {
      const end = text.indexOf("\n", i)
      i = end === -1 ? text.length : end + 1
    } else if (char === "/" && text[i + 1] === "*") {
      const end = text.indexOf("*/", i + 2)
      i = end === -1 ? text.length : end + 2
    } else if (char === "'" || char === "\"") {
      let j = i + 1
      // Doubled quotes escape themselves ('it''s').
      while (j < text.length && !(text[j] === char && text[j + 1] !== char)) j += text[j] === char ? 2 : 1
      i = j + 1
    } else if (char === "$" && /^\$[A-Za-z_]?[A-Za-z0-9_]*\$/.test(text.slice(i, i + 64))) {
      const tag = /^\$[A-Za-z_]?[A-Za-z0-9_]*\$/.exec(text.slice(i, i + 64))![0]
      const end = text.indexOf(tag, i + tag.length)
      i = end === -1 ? text.length : end + tag.length
    } else {
      if (char === ";") push(i)
      i++
    }
  }
  push(text.length)
  return statements
}

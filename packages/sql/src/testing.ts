/**
 * `@porter/sql/testing` (Node, Linux or macOS): a real PostgreSQL server for tests and benchmarks, started from the
 * installed binaries (Debian's `postgresql` package: `/usr/lib/postgresql/<version>/bin`, or `initdb` on `PATH`, or
 * `PORTER_PG_BIN`) in a temporary directory — `initdb`, then `postgres` on a free port of 127.0.0.1 and a unix
 * socket in that directory — and removed, files and all, when the scope closes. PostgreSQL refuses to run as root:
 * as root the server runs as the `postgres` user (or `nobody`) through `setpriv`, which execs, so the child process
 * is the server itself.
 *
 * Cannot: run where no PostgreSQL binaries are installed (`missing()` says why), or survive its parent being killed
 * with SIGKILL (the server is then left running; other exits stop it).
 */
import { PgClient } from "@effect/sql-pg"
import { Context, Effect, Layer, Redacted, Schema, type Scope } from "effect"
import { SqlClient } from "effect/sql"
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { existsSync, readdirSync } from "node:fs"
import { chmod, chown, mkdir, mkdtemp, rm } from "node:fs/promises"
import { createServer } from "node:net"
import { tmpdir, userInfo } from "node:os"
import { delimiter, join } from "node:path"

/** A PostgreSQL server started for a test file: where it listens, its user and database, more databases, stop. */
export interface TestPostgres {
  /** `postgres://porter@127.0.0.1:<port>/<database>` (trust authentication: no password). */
  readonly url: string
  readonly host: string
  readonly port: number
  /** The directory of the server's unix socket (`.s.PGSQL.<port>`). */
  readonly socketDir: string
  readonly user: string
  readonly database: string
  /** The server's pid (for CPU figures). */
  readonly pid: number
  /** Creates another database on the server; its URL. */
  readonly createDatabase: (name: string) => Promise<string>
  /** Stops the server now and removes its files (also done when the scope closes). */
  readonly stop: () => Promise<void>
}

/** The running test server, as a service. */
export const TestPostgres = Context.Service<TestPostgres>("@porter/sql/testing/TestPostgres")

/** The test server could not be started or stopped. */
export class PostgresError extends Schema.TaggedError<PostgresError>()("PostgresError", {
  message: Schema.String
}) {}

/** How the test server runs: durability and extra settings. */
export interface StartOptions {
  /** `fsync` and `synchronous_commit` on (default off: tests do not need commits on disk, and run faster). */
  readonly durable?: boolean | undefined
  /** More `-c name=value` settings. */
  readonly settings?: Readonly<Record<string, string>> | undefined
}

const onPath = (command: string) =>
  (process.env["PATH"] ?? "").split(delimiter).find((dir) => dir !== "" && existsSync(join(dir, command)))

/** The directory holding `initdb` and `postgres`, or undefined. */
export const binDir = (): string | undefined => {
  const given = process.env["PORTER_PG_BIN"]
  if (given !== undefined && given !== "") return given
  const found = onPath("initdb")
  if (found !== undefined && existsSync(join(found, "postgres"))) return found
  const debian = "/usr/lib/postgresql"
  if (!existsSync(debian)) return undefined
  const versions = readdirSync(debian).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a))
  return versions.map((v) => join(debian, v, "bin")).find((dir) => existsSync(join(dir, "initdb")))
}

/** Who runs the server: this process's user, or (as root) `postgres`, else `nobody`, through `setpriv`. */
const runAs = (): { readonly wrap: ReadonlyArray<string>; readonly uid: number; readonly gid: number } | undefined => {
  if (process.getuid?.() !== 0) return { wrap: [], uid: userInfo().uid, gid: userInfo().gid }
  const setpriv = onPath("setpriv")
  if (setpriv === undefined) return undefined
  for (const name of ["postgres", "nobody"]) {
    const id = spawnSync("id", ["-u", name], { encoding: "utf8" })
    const gid = spawnSync("id", ["-g", name], { encoding: "utf8" })
    if (id.status !== 0 || gid.status !== 0) continue
    const uid = Number(id.stdout.trim())
    return {
      wrap: [join(setpriv, "setpriv"), `--reuid=${uid}`, `--regid=${Number(gid.stdout.trim())}`, "--init-groups"],
      uid,
      gid: Number(gid.stdout.trim())
    }
  }
  return undefined
}

/** Why no server can be started here, or undefined. */
export const missing = (): string | undefined => {
  if (process.platform === "win32") return "the PostgreSQL tests need Linux or macOS"
  if (binDir() === undefined) {
    return "no PostgreSQL binaries (initdb, postgres): install Debian's postgresql package " +
      "(scripts/postgres-setup.sh), or set PORTER_PG_BIN"
  }
  if (runAs() === undefined) return "running as root without setpriv or a postgres/nobody user to run the server as"
  return undefined
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject()))
    })
  })

const run = (argv: ReadonlyArray<string>) =>
  new Promise<void>((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, LC_ALL: "C" }
    })
    let output = ""
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")))
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")))
    child.once("error", reject)
    child.once(
      "exit",
      (code) => (code === 0 ? resolve() : reject(new Error(`${argv.join(" ")}: exit ${code}\n${output}`)))
    )
  })

const waitForReady = (child: ChildProcess, log: () => string) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`postgres did not start in 30 s:\n${log()}`)), 30_000)
    const check = () => {
      if (log().includes("ready to accept connections")) {
        clearTimeout(timer)
        resolve()
      }
    }
    child.stderr?.on("data", check)
    child.once("exit", (code) => {
      clearTimeout(timer)
      reject(new Error(`postgres exited with ${code}:\n${log()}`))
    })
  })

const stopServer = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000)
    child.once("exit", () => {
      clearTimeout(timer)
      resolve()
    })
    child.kill("SIGINT") // fast shutdown
  })

/** Starts a server; `stop()` (or the returned promise's owner) must stop it. */
export const startPromise = async (options: StartOptions = {}): Promise<TestPostgres> => {
  const why = missing()
  if (why !== undefined) throw new Error(why)
  const bin = binDir()!
  const user = runAs()!
  const root = await mkdtemp(join(tmpdir(), "porter-pg-"))
  await chmod(root, 0o755)
  const data = join(root, "data")
  const socketDir = join(root, "socket")
  for (const dir of [data, socketDir]) {
    await mkdir(dir, { mode: 0o700 })
    await chown(dir, user.uid, user.gid)
  }
  let child: ChildProcess | undefined
  const cleanup = async () => {
    if (child !== undefined) await stopServer(child)
    await rm(root, { recursive: true, force: true })
  }
  try {
    await run([
      ...user.wrap,
      join(bin, "initdb"),
      "-D",
      data,
      "-U",
      "porter",
      "--auth=trust",
      "-E",
      "UTF8",
      "--no-sync"
    ])
    const port = await freePort()
    const durable = options.durable === true ? "on" : "off"
    const settings = {
      listen_addresses: "127.0.0.1",
      fsync: durable,
      synchronous_commit: durable,
      full_page_writes: durable,
      max_connections: "200",
      ...options.settings
    }
    const argv = [
      ...user.wrap,
      join(bin, "postgres"),
      "-D",
      data,
      "-p",
      String(port),
      "-k",
      socketDir,
      ...Object.entries(settings).flatMap(([name, value]) => ["-c", `${name}=${value}`])
    ]
    const started = spawn(argv[0]!, argv.slice(1), {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, LC_ALL: "C" }
    })
    child = started
    let log = ""
    started.stderr?.on("data", (chunk: Buffer) => (log = (log + chunk.toString("utf8")).slice(-20_000)))
    const quit = () => started.kill("SIGQUIT")
    process.once("exit", quit)
    started.once("exit", () => process.off("exit", quit))
    await waitForReady(started, () => log)
    const url = (database: string) => `postgres://porter@127.0.0.1:${port}/${database}`
    return {
      url: url("postgres"),
      host: "127.0.0.1",
      port,
      socketDir,
      user: "porter",
      database: "postgres",
      pid: started.pid!,
      createDatabase: async (name) => {
        if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a database name: ${name}`)
        await Effect.runPromise(
          Effect.flatMap(Effect.service(SqlClient.SqlClient), (sql) => sql.unsafe(`CREATE DATABASE ${name}`).unprepared)
            .pipe(
              Effect.provide(PgClient.layer({ url: Redacted.make(url("postgres")), maxConnections: 1 }))
            )
        )
        return url(name)
      },
      stop: cleanup
    }
  } catch (error) {
    await cleanup()
    throw error
  }
}

/** A server for the scope's lifetime. */
export const start = (options: StartOptions = {}): Effect.Effect<TestPostgres, PostgresError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () => startPromise(options),
      catch: (cause) => new PostgresError({ message: cause instanceof Error ? cause.message : String(cause) })
    }),
    (server) => Effect.promise(() => server.stop())
  )

/** Provides `TestPostgres` (a server for the layer's lifetime). */
export const layer = (options: StartOptions = {}): Layer.Layer<TestPostgres, PostgresError> =>
  Layer.effect(TestPostgres, start(options))

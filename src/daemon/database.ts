// The connection pool every command uses: DATABASE_URL when given, otherwise the embedded
// PostgreSQL in the data directory (attached to when a daemon already runs it, started if not).
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type pg from "pg";
import type { Config } from "../config/config.ts";
import { ConfigError } from "../config/configError.ts";
import { registerDatabaseSecrets } from "../config/secrets.ts";
import { withLibpqSslMode } from "../db/connectionString.ts";
import { isProcessAlive, readEmbeddedOwner } from "../db/embeddedOwner.ts";
import {
  embeddedClusterDir,
  embeddedClusterExists,
  embeddedDatabaseUrl,
  LEGACY_EMBEDDED_PASSWORD,
  readEmbeddedPassword,
} from "../db/embeddedUrl.ts";
import { createPool as createPgPool } from "../db/pool.ts";
import type { Logger } from "../observe/logger.ts";

export interface DatabaseHandle {
  readonly pool: pg.Pool;
  /** "DATABASE_URL" or "embedded PostgreSQL in <dir>": safe to print. */
  readonly description: string;
  /** Ends the pool, then stops the embedded server if this process started it. Idempotent. */
  readonly close: () => Promise<void>;
  /** For an embedded server this process started: resolves, with how, if it exits unasked. */
  readonly died?: Promise<string>;
}

interface RunningEmbedded {
  readonly port: number;
  readonly postmasterPid: number;
}

/** A live embedded server in dataDir (postmaster.pid's 1st and 4th lines), or null. */
function runningEmbedded(dataDir: string): RunningEmbedded | null {
  const pidFile = join(embeddedClusterDir(dataDir), "postmaster.pid");
  if (!existsSync(pidFile)) return null;
  const lines = readFileSync(pidFile, "utf8").split("\n");
  const pid = Number.parseInt(lines[0] ?? "", 10);
  const port = Number.parseInt(lines[3] ?? "", 10);
  if (!Number.isInteger(pid) || pid <= 0 || !Number.isInteger(port)) return null;
  // Stale: a crashed server's file, removed when we start it.
  return isProcessAlive(pid) ? { port, postmasterPid: pid } : null;
}

/** The parent pid of a process (Linux /proc), or null where it cannot be read. */
function parentPid(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const ppid = Number.parseInt(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1] ?? "", 10);
    return Number.isInteger(ppid) ? ppid : null;
  } catch {
    return null;
  }
}

/**
 * Whether a running embedded server was left behind by a prebuildsd that is gone (killed with -9,
 * say): its recorded owner is dead, or, for a server started before owners were recorded, init
 * adopted it. Such a server would otherwise be attached to and never stopped (issue #14).
 */
function isOrphan(dataDir: string, running: RunningEmbedded): boolean {
  const owner = readEmbeddedOwner(dataDir);
  if (owner !== null && owner.postmasterPid === running.postmasterPid) {
    return !isProcessAlive(owner.pid);
  }
  return parentPid(running.postmasterPid) === 1;
}

/** Stops an orphaned server (fast shutdown) and waits for it to go. */
async function stopOrphan(dataDir: string, pid: number): Promise<void> {
  try {
    process.kill(pid, "SIGINT");
  } catch (error) {
    throw new Error(
      `an embedded PostgreSQL (pid ${pid}) left running in ${dataDir} by a prebuildsd that is gone could not be stopped (${(error as Error).message}): stop it, or set PREBUILDS_DATA_DIR`,
    );
  }
  for (let waited = 0; isProcessAlive(pid); waited += 100) {
    if (waited >= ORPHAN_STOP_WAIT_MS) {
      throw new Error(
        `the embedded PostgreSQL (pid ${pid}) left running in ${dataDir} did not stop within ${ORPHAN_STOP_WAIT_MS / 1000}s: stop it, or set PREBUILDS_DATA_DIR`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const ORPHAN_STOP_WAIT_MS = 30_000;

/** Imports the embedded server lazily (its exit hooks are removed by embeddedPostgres.ts). */
function importEmbedded() {
  return import("../db/embeddedPostgres.ts");
}

function createPool(url: string, config: Config, logger: Logger): pg.Pool {
  registerDatabaseSecrets(url);
  const pool = createPgPool({
    connectionString: withLibpqSslMode(url),
    max: config.databaseMaxConnections,
    applicationName: "prebuildsd",
    // A locked row or a runaway statement fails its action instead of stalling the cycle.
    statementTimeoutMs: config.statementTimeout,
    lockTimeoutMs: config.lockTimeout,
    // An idle client losing its connection (server restart) must not crash the daemon.
    onIdleError: (error) => logger.warn({ err: error }, "idle database connection lost"),
  });
  // A connection that is checked out but has no statement running (the lock transaction while
  // presets are executed) emits 'error' when the server terminates it; the pool only listens
  // while a connection is idle, and an unheard 'error' event would crash the process (issue #8:
  // pg_terminate_backend mid-cycle). The error also fails that connection's next statement,
  // which is where the cycle reports it, so here it is only noted.
  pool.on("connect", (client) => {
    client.on("error", (error) =>
      logger.debug({ err: error }, "a database connection in use was lost"),
    );
  });
  return pool;
}

export interface OpenOptions {
  /** false: a command that needs DATABASE_URL or an embedded server already running. */
  readonly startEmbedded: boolean;
  /**
   * false: start an embedded server only on a data directory that already holds a cluster. A
   * one-shot command such as `plan` must not initialise one just to report an empty schema
   * (operator review): it throws a ConfigError naming DATABASE_URL and `prebuildsd migrate`.
   * Default true (`run`, `migrate`).
   */
  readonly createEmbedded?: boolean;
}

export async function openDatabase(
  config: Config,
  logger: Logger,
  options: OpenOptions = { startEmbedded: true },
): Promise<DatabaseHandle> {
  if (config.databaseUrl !== null) {
    const pool = createPool(config.databaseUrl, config, logger);
    return { pool, description: "DATABASE_URL", close: once(() => pool.end()) };
  }
  const description = `embedded PostgreSQL in ${config.dataDir}`;
  const running = runningEmbedded(config.dataDir);
  if (running !== null && options.startEmbedded && isOrphan(config.dataDir, running)) {
    logger.warn(
      { dataDir: config.dataDir, pid: running.postmasterPid },
      "the embedded PostgreSQL was left running by a prebuildsd that is gone: stopping it, then starting it again",
    );
    await stopOrphan(config.dataDir, running.postmasterPid);
  } else if (running !== null) {
    // Another live prebuildsd runs it (the daemon, or a command): attach, and leave it running.
    const password = readEmbeddedPassword(config.dataDir) ?? LEGACY_EMBEDDED_PASSWORD;
    const pool = createPool(embeddedDatabaseUrl(running.port, password), config, logger);
    logger.debug(
      { dataDir: config.dataDir, port: running.port },
      "using the running embedded PostgreSQL",
    );
    return { pool, description, close: once(() => pool.end()) };
  }
  if (!options.startEmbedded) {
    throw new Error(
      `DATABASE_URL is not set and no embedded PostgreSQL runs in ${config.dataDir}: set DATABASE_URL or PREBUILDS_DATA_DIR`,
    );
  }
  if (options.createEmbedded === false && !embeddedClusterExists(config.dataDir)) {
    throw new ConfigError(
      `DATABASE_URL is not set and ${config.dataDir} holds no embedded database yet: set DATABASE_URL ` +
        "to your PostgreSQL server, or create the embedded one with `prebuildsd migrate` (or `prebuildsd run`)",
    );
  }
  const { startEmbeddedPostgres } = await importEmbedded();
  logger.info(
    { dataDir: config.dataDir },
    "DATABASE_URL is not set: starting an embedded PostgreSQL",
  );
  const embedded = await startEmbeddedPostgres({
    dataDir: config.dataDir,
    persistent: true,
    onLog: (line) => logger.debug({ postgres: line.trim() }, "embedded postgres"),
  });
  const pool = createPool(embedded.url, config, logger);
  return {
    pool,
    description,
    died: embedded.died,
    close: once(async () => {
      try {
        await pool.end();
      } finally {
        await embedded.stop();
      }
    }),
  };
}

/** A throwaway embedded server (the demo's), deleted on close. */
export async function openScratchDatabase(
  dataDir: string,
  config: Config,
  logger: Logger,
): Promise<DatabaseHandle> {
  const { startEmbeddedPostgres } = await importEmbedded();
  const embedded = await startEmbeddedPostgres({
    dataDir,
    persistent: false,
    onLog: (line) => logger.debug({ postgres: line.trim() }, "embedded postgres"),
  });
  const pool = createPool(embedded.url, config, logger);
  return {
    pool,
    description: `throwaway embedded PostgreSQL in ${dataDir}`,
    close: once(async () => {
      try {
        await pool.end();
      } finally {
        await embedded.stop();
      }
    }),
  };
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | null = null;
  return () => {
    done ??= fn();
    return done;
  };
}

// The connection pool every command uses: DATABASE_URL when given, otherwise the embedded
// PostgreSQL in the data directory (attached to when a daemon already runs it, started if not).
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type pg from "pg";
import type { Config } from "../config/config.ts";
import { registerDatabaseSecrets } from "../config/secrets.ts";
import { withLibpqSslMode } from "../db/connectionString.ts";
import { embeddedDatabaseUrl } from "../db/embeddedUrl.ts";
import { createPool as createPgPool } from "../db/pool.ts";
import type { Logger } from "../observe/logger.ts";

export interface DatabaseHandle {
  readonly pool: pg.Pool;
  /** "DATABASE_URL" or "embedded PostgreSQL in <dir>": safe to print. */
  readonly description: string;
  /** Ends the pool, then stops the embedded server if this process started it. Idempotent. */
  readonly close: () => Promise<void>;
}

/** Port of a live embedded server in dataDir (postmaster.pid's 4th line), or null. */
function runningEmbeddedPort(dataDir: string): number | null {
  const pidFile = join(dataDir, "pgdata", "postmaster.pid");
  if (!existsSync(pidFile)) return null;
  const lines = readFileSync(pidFile, "utf8").split("\n");
  const pid = Number.parseInt(lines[0] ?? "", 10);
  const port = Number.parseInt(lines[3] ?? "", 10);
  if (!Number.isInteger(pid) || pid <= 0 || !Number.isInteger(port)) return null;
  try {
    process.kill(pid, 0);
  } catch {
    return null; // stale: a crashed server's file, removed when we start it
  }
  return port;
}

/**
 * Imports the embedded server lazily: its module installs async-exit-hook handlers for SIGINT,
 * SIGTERM and SIGHUP that stop PostgreSQL and call process.exit(128 + n). Those would race our
 * own graceful stop (and exit non-zero), so the handlers it adds are removed again here; our
 * shutdown stops the server itself.
 */
async function importEmbedded() {
  const signals = ["SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK"] as const;
  const before = new Map(signals.map((s) => [s, new Set(process.listeners(s))]));
  const module = await import("../db/embeddedPostgres.ts");
  for (const signal of signals) {
    for (const listener of process.listeners(signal)) {
      if (!before.get(signal)?.has(listener)) process.removeListener(signal, listener);
    }
  }
  return module;
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
  const port = runningEmbeddedPort(config.dataDir);
  if (port !== null) {
    const url = embeddedDatabaseUrl(port);
    const pool = createPool(url, config, logger);
    logger.debug({ dataDir: config.dataDir, port }, "using the running embedded PostgreSQL");
    return { pool, description, close: once(() => pool.end()) };
  }
  if (!options.startEmbedded) {
    throw new Error(
      `DATABASE_URL is not set and no embedded PostgreSQL runs in ${config.dataDir}: set DATABASE_URL or PREBUILDS_DATA_DIR`,
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

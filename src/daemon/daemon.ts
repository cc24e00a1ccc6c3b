// `prebuildsd run` as one scoped Effect program. Resources are acquired in order — tracing, the
// database (embedded or not), the HTTP server — and the reconcile and metrics loops are forked
// into the same scope. On a shutdown signal the scope closes in reverse: the loops are interrupted
// (the running cycle is aborted, its transaction rolls back and its lock is released), the HTTP
// server closes, the pool ends, the embedded server stops, traces are flushed. Then exit 0.
import { Effect, Schedule } from "effect";
import type { Config } from "../config/config.ts";
import { formatDuration } from "../config/duration.ts";
import { connectionSource } from "../db/connectionError.ts";
import { migrate, pendingMigrations } from "../db/migrate.ts";
import type { Logger } from "../observe/logger.ts";
import { PrebuildMetrics } from "../observe/metrics.ts";
import { startTracing } from "../observe/otel.ts";
import { abortable } from "./abortable.ts";
import { type DatabaseHandle, openDatabase } from "./database.ts";
import { CYCLE_SETTLE_TIMEOUT_MS, type Cycle, reconcileLoop } from "./reconcileLoop.ts";
import { serveHttp } from "./serveHttp.ts";
import { listenForShutdown, shutdownRequested } from "./signals.ts";
import { sampleState } from "./stateSampler.ts";
import { untilDatabaseAnswers } from "./waitForDatabase.ts";

/** Builds the cycle the loop runs; it must catch and count its own failures. */
export type CycleFactory = (
  database: DatabaseHandle,
  metrics: PrebuildMetrics,
  logger: Logger,
) => Cycle;

export interface DaemonOptions {
  readonly config: Config;
  readonly logger: Logger;
  readonly version: string;
  readonly makeCycle: CycleFactory;
  /** Stop waiting for a graceful stop after this long and exit 1. */
  readonly forceExitAfterMs?: number;
}

const METRICS_REFRESH_TIMEOUT_MS = 10_000;
/** Waiting for the pool (and an embedded server) to close on shutdown; the whole graceful stop
 *  stays well inside the signal handler's 15 s deadline even when the database is silent. */
const CLOSE_TIMEOUT_MS = 4000;

/** Brings an embedded database to the current schema; warns when an external one lags behind. */
async function prepareSchema(database: DatabaseHandle, config: Config, logger: Logger) {
  const client = await database.pool.connect();
  try {
    if (config.databaseUrl === null) {
      const applied = await migrate(client);
      if (applied.length > 0) logger.info({ applied }, "migrated the embedded database");
      return;
    }
    // With DATABASE_URL, migrations run separately (as the schema owner): `prebuildsd migrate`.
    const pending = await pendingMigrations(client);
    if (pending.length > 0) {
      logger.error(
        { pending },
        "the database schema is behind this build: run `prebuildsd migrate`; /readyz reports not ready until then",
      );
    }
  } finally {
    client.release();
  }
}

export function metricsRefreshLoop(
  database: DatabaseHandle,
  metrics: PrebuildMetrics,
  config: Config,
  logger: Logger,
): Effect.Effect<void> {
  const refresh = abortable(async (stopping) => {
    const signal = AbortSignal.any([stopping, AbortSignal.timeout(METRICS_REFRESH_TIMEOUT_MS)]);
    try {
      metrics.setStateSample(
        await sampleState({ pool: database.pool }, config, new Date(), signal),
      );
    } catch (error) {
      if (stopping.aborted) return;
      metrics.stateRefreshErrors.inc();
      logger.warn(
        { err: error },
        "refreshing the cached prebuild metrics failed; serving the last sample",
      );
    }
  }, CYCLE_SETTLE_TIMEOUT_MS);
  return Effect.asVoid(Effect.repeat(refresh, Schedule.spaced(config.metricsRefreshInterval)));
}

/** Closes the database, waiting at most CLOSE_TIMEOUT_MS (a silent server must not hold exit). */
function closeDatabase(db: DatabaseHandle, logger: Logger): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      logger.warn(
        { timeoutMs: CLOSE_TIMEOUT_MS },
        "the database did not close in time; exiting without waiting for it",
      );
      resolve();
    }, CLOSE_TIMEOUT_MS);
  });
  const closed = db.close().then(
    () => logger.info("database closed"),
    (error: unknown) => logger.warn({ err: error }, "closing the database failed"),
  );
  return Promise.race([closed, gaveUp]).finally(() => clearTimeout(timer));
}

export function daemonProgram(options: DaemonOptions): Effect.Effect<void, Error> {
  const { config, logger } = options;
  return Effect.scoped(
    Effect.gen(function* () {
      const shutdownSignal = listenForShutdown(logger, options.forceExitAfterMs ?? 15_000);
      // A signal while the program was still loading: nothing has started, so nothing to stop.
      if (shutdownRequested()) return;
      yield* Effect.acquireRelease(
        Effect.promise(() => startTracing(config.otlpEndpoint, options.version, logger)),
        (tracing) => Effect.promise(() => tracing.shutdown()),
      );
      const database = yield* Effect.acquireRelease(
        Effect.tryPromise({
          try: () => openDatabase(config, logger, { startEmbedded: true }),
          catch: (cause) => toError("opening the database failed", cause),
        }),
        (db) => Effect.promise(() => closeDatabase(db, logger)),
      );
      const metrics = new PrebuildMetrics({
        reconciliationIntervalMs: config.reconciliationInterval,
      });
      // Set when an embedded server this process started exits unasked: /healthz says so.
      let unhealthy: string | null = null;
      const http = yield* serveHttp(config, database, metrics, logger, {
        statusPage: { version: options.version },
        health: () => ({ ready: unhealthy === null, reason: unhealthy ?? "" }),
      });
      // The port is up first, so a database that is not up yet is a 503 on /readyz, not a crash.
      const answered = yield* Effect.raceFirst(
        Effect.as(
          untilDatabaseAnswers(() => prepareSchema(database, config, logger), {
            logger,
            source: connectionSource(config),
          }).pipe(
            Effect.mapError((cause) => toError("checking the database schema failed", cause)),
          ),
          true,
        ),
        Effect.as(shutdownSignal, false),
      );
      if (!answered) return;
      logger.info(
        {
          address: http.address,
          database: database.description,
          interval: formatDuration(config.reconciliationInterval),
          concurrency: config.concurrency,
          version: options.version,
          nodeFlags: process.execArgv.join(" "),
        },
        "prebuildsd running: serving /metrics, /healthz, /readyz and the status page at /",
      );
      yield* Effect.forkScoped(metricsRefreshLoop(database, metrics, config, logger));
      yield* Effect.forkScoped(
        reconcileLoop(options.makeCycle(database, metrics, logger), config.reconciliationInterval),
      );
      const died = database.died;
      if (died === undefined) {
        yield* shutdownSignal;
        return;
      }
      // An embedded server that dies under the daemon ends it (exit 1) instead of leaving it
      // "healthy" with no database; the supervisor restarts both.
      yield* Effect.raceFirst(
        Effect.asVoid(shutdownSignal),
        Effect.flatMap(
          Effect.promise(() => died),
          (how) => {
            unhealthy = `the embedded PostgreSQL ${how}`;
            logger.error({ dataDir: config.dataDir }, `${unhealthy}: stopping; restart prebuildsd`);
            return Effect.fail(new Error(`${unhealthy}: restart prebuildsd`));
          },
        ),
      );
    }),
  ).pipe(Effect.tap(() => Effect.sync(() => logger.info("stopped cleanly"))));
}

function toError(message: string, cause: unknown): Error {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new Error(`${message}: ${detail}`, { cause });
}

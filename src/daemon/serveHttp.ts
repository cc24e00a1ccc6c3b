// The HTTP side of a running prebuildsd, wired once for `run` and `demo`: /metrics from the
// process's metrics, /readyz from the database, /healthz, and the status page at `/` from a
// short-lived cache. A scoped Effect: the server and the page's cache close with the scope.
import { Effect } from "effect";
import type { Config } from "../config/config.ts";
import { readinessCheck } from "../http/readiness.ts";
import { type HttpServer, type Readiness, startHttpServer } from "../http/server.ts";
import type { Logger } from "../observe/logger.ts";
import type { PrebuildMetrics } from "../observe/metrics.ts";
import type { DatabaseHandle } from "./database.ts";
import { type StatusPageSourceOptions, statusPageSource } from "./statusPageState.ts";

export interface ServeHttpOptions {
  readonly statusPage: StatusPageSourceOptions;
  /** /healthz; default always healthy. */
  readonly health?: () => Readiness;
}

/**
 * Listens on `config.httpAddress` until the scope closes. Fails with an Error naming
 * PREBUILDS_HTTP_ADDRESS when the address cannot be bound.
 */
export function serveHttp(
  config: Config,
  database: DatabaseHandle,
  metrics: PrebuildMetrics,
  logger: Logger,
  options: ServeHttpOptions,
) {
  return Effect.gen(function* () {
    const statusPage = yield* Effect.acquireRelease(
      Effect.sync(() => statusPageSource({ pool: database.pool }, config, options.statusPage)),
      (page) => Effect.sync(() => page.close()),
    );
    return yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () =>
          startHttpServer(
            config.httpAddress,
            {
              metrics: async () => ({
                contentType: metrics.contentType,
                body: await metrics.text(),
              }),
              readiness: readinessCheck(database.pool),
              ...(options.health && { health: options.health }),
              statusPage: statusPage.html,
            },
            (error) => logger.warn({ err: error }, "HTTP request failed"),
          ),
        catch: (cause) =>
          new Error(
            `cannot listen on ${config.httpAddress.host ?? ""}:${config.httpAddress.port} (set PREBUILDS_HTTP_ADDRESS): ${cause instanceof Error ? cause.message : String(cause)}`,
            { cause },
          ),
      }),
      (server: HttpServer) => Effect.promise(() => server.close()),
    );
  });
}

// Trace export. Spans are always made through @opentelemetry/api (src/observe/tracing.ts), a no-op
// until an SDK is registered; the SDK and its OTLP/HTTP exporter are loaded only when
// OTEL_EXPORTER_OTLP_ENDPOINT is set, so a daemon without a collector loads none of it.
import type { Logger } from "./logger.ts";

export interface Tracing {
  /** Flushes pending spans and stops the SDK; safe to call twice. */
  readonly shutdown: () => Promise<void>;
}

const noTracing: Tracing = { shutdown: async () => {} };

export async function startTracing(
  endpoint: string | null,
  serviceVersion: string,
  logger: Logger,
): Promise<Tracing> {
  if (endpoint === null) return noTracing;
  const [{ NodeSDK }, { OTLPTraceExporter }] = await Promise.all([
    import("@opentelemetry/sdk-node"),
    import("@opentelemetry/exporter-trace-otlp-http"),
  ]);
  // The exporter reads OTEL_EXPORTER_OTLP_ENDPOINT (and _HEADERS, _TIMEOUT …) itself and appends
  // /v1/traces, as the specification says.
  const sdk = new NodeSDK({
    serviceName: process.env.OTEL_SERVICE_NAME ?? "prebuildsd",
    traceExporter: new OTLPTraceExporter(),
    // Auto-instrumentation is not wanted: the spans that matter are made by hand.
    instrumentations: [],
  });
  sdk.start();
  logger.info({ endpoint, serviceVersion }, "exporting traces over OTLP/HTTP");
  let stopped = false;
  return {
    shutdown: async () => {
      if (stopped) return;
      stopped = true;
      try {
        await sdk.shutdown();
      } catch (error) {
        logger.warn({ err: error }, "flushing traces failed");
      }
    },
  };
}

// Spans through @opentelemetry/api: a no-op unless an SDK is registered (see src/observe/otel.ts).
import { type Attributes, SpanStatusCode, trace } from "@opentelemetry/api";

const tracer = trace.getTracer("prebuildsd");

/** Runs fn inside an active span named `name`; failures are recorded on the span and rethrown. */
export async function withSpan<T>(
  name: string,
  attributes: Attributes,
  fn: (setAttributes: (extra: Attributes) => void) => Promise<T>,
): Promise<T> {
  return tracer.startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await fn((extra) => span.setAttributes(extra));
    } catch (error) {
      span.recordException(error instanceof Error ? error : String(error));
      span.setStatus({ code: SpanStatusCode.ERROR, message: String(error) });
      throw error;
    } finally {
      span.end();
    }
  });
}

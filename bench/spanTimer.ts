// Times the reconciler's own OpenTelemetry spans (prebuilds.reconcile, prebuilds.snapshot, …)
// without an SDK: a minimal global TracerProvider whose spans only record when they start and end.
// The spans are measured inside the real cycle, so no phase has to be re-run to be timed.
import {
  INVALID_SPAN_CONTEXT,
  type Span,
  type SpanContext,
  type Tracer,
  type TracerProvider,
  trace,
} from "@opentelemetry/api";

export interface TimedSpan {
  readonly name: string;
  /** performance.now() at start and end. */
  readonly start: number;
  readonly end: number;
}

class RecordingSpan implements Span {
  private readonly name: string;
  private readonly start = performance.now();
  private readonly sink: (span: TimedSpan) => void;
  private ended = false;

  constructor(name: string, sink: (span: TimedSpan) => void) {
    this.name = name;
    this.sink = sink;
  }
  spanContext(): SpanContext {
    return INVALID_SPAN_CONTEXT;
  }
  setAttribute(): this {
    return this;
  }
  setAttributes(): this {
    return this;
  }
  addEvent(): this {
    return this;
  }
  addLink(): this {
    return this;
  }
  addLinks(): this {
    return this;
  }
  setStatus(): this {
    return this;
  }
  updateName(): this {
    return this;
  }
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.sink({ name: this.name, start: this.start, end: performance.now() });
  }
  isRecording(): boolean {
    return true;
  }
  recordException(): void {}
}

export class SpanTimer {
  private spans: TimedSpan[] = [];

  /** Installs this timer as the global tracer provider (once per process). */
  install(): void {
    const sink = (span: TimedSpan) => this.spans.push(span);
    const tracer = {
      startSpan: (name: string) => new RecordingSpan(name, sink),
      startActiveSpan: (name: string, ...rest: unknown[]) => {
        const fn = rest[rest.length - 1] as (span: Span) => unknown;
        return fn(new RecordingSpan(name, sink));
      },
    } as Tracer;
    const provider: TracerProvider = { getTracer: () => tracer };
    if (!trace.setGlobalTracerProvider(provider)) {
      throw new Error(
        "a tracer provider was already registered; the span timer must be the only one",
      );
    }
  }

  /** Spans ended since the last call, oldest first. */
  take(): TimedSpan[] {
    const taken = this.spans;
    this.spans = [];
    return taken;
  }
}

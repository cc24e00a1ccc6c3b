// A value read from the database on demand, at most once per `ttlMs` however many requests ask,
// never waited for longer than `waitMs` (issue #14: a GET of the status page must not query the
// database per request, nor hang on a slow one). One load runs at a time; a load that outlives
// `timeoutMs` is aborted, and the last good value keeps being served with the error beside it.

export interface CachedRead<T> {
  /** The last value loaded successfully, or null before the first. */
  readonly value: T | null;
  /** When that value was loaded (ms since the epoch), or null. */
  readonly loadedAt: number | null;
  /** Why the latest load failed (timed out, database error), or null when it succeeded. */
  readonly error: string | null;
  /** A load is still running: `value` may be older than the cache period. */
  readonly refreshing: boolean;
}

export interface CachedValueOptions<T> {
  /** Reads the value; must stop (reject) when the signal aborts. */
  readonly load: (signal: AbortSignal) => Promise<T>;
  /** A value younger than this is served without loading (ms). */
  readonly ttlMs: number;
  /** A load still running after this long is aborted and counted as failed (ms). */
  readonly timeoutMs: number;
  /** How long a request waits for a running load before it is served the last value (ms). */
  readonly waitMs: number;
  readonly now?: () => number;
}

export interface CachedValue<T> {
  readonly read: () => Promise<CachedRead<T>>;
  /** Aborts a running load (shutdown). Later reads serve the last value without loading. */
  readonly close: () => void;
}

export function cachedValue<T>(options: CachedValueOptions<T>): CachedValue<T> {
  const now = options.now ?? Date.now;
  let value: T | null = null;
  let loadedAt: number | null = null;
  let error: string | null = null;
  // When the last load started: the next starts no sooner than ttlMs later, failed or not, so a
  // failing database is not asked on every request either.
  let lastAttempt: number | null = null;
  let inFlight: { promise: Promise<void>; controller: AbortController } | null = null;
  let closed = false;

  const snapshot = (): CachedRead<T> => ({ value, loadedAt, error, refreshing: inFlight !== null });

  const start = (): Promise<void> => {
    const controller = new AbortController();
    const timer = setTimeout(
      () => controller.abort(new Error(`no answer within ${options.timeoutMs} ms`)),
      options.timeoutMs,
    );
    lastAttempt = now();
    const promise = options
      .load(controller.signal)
      .then(
        (loaded) => {
          value = loaded;
          loadedAt = now();
          error = null;
        },
        (cause: unknown) => {
          const reason: unknown = controller.signal.aborted ? controller.signal.reason : cause;
          error = reason instanceof Error ? reason.message : String(reason);
        },
      )
      .finally(() => {
        clearTimeout(timer);
        inFlight = null;
      });
    inFlight = { promise, controller };
    return promise;
  };

  return {
    read: async () => {
      if (closed) return snapshot();
      const due = lastAttempt === null || now() - lastAttempt >= options.ttlMs;
      const running = inFlight?.promise ?? (due ? start() : null);
      if (running === null) return snapshot();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        running,
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, options.waitMs);
        }),
      ]);
      clearTimeout(timer);
      return snapshot();
    },
    close: () => {
      closed = true;
      inFlight?.controller.abort(new Error("stopping"));
    },
  };
}

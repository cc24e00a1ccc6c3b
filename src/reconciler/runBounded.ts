// Bounded parallelism for the cycle's presets. Not p-map or p-limit: on abort those reject at once,
// while the cycle must wait for every started task to settle (their transactions roll back)
// before it ends the lock transaction.

/**
 * Calls `task` for each item, at most `concurrency` at a time, in order. Once `signal` aborts no
 * further task starts. Resolves, or rejects with the first task's rejection, only after every
 * started task has settled.
 */
export async function runBounded<T>(
  items: readonly T[],
  concurrency: number,
  signal: AbortSignal,
  task: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let firstError: { readonly error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (next < items.length && !signal.aborted && firstError === undefined) {
      const item = items[next++] as T;
      try {
        await task(item);
      } catch (error) {
        firstError ??= { error };
      }
    }
  };
  const workers = Math.max(1, Math.min(concurrency, items.length));
  await Promise.all(Array.from({ length: workers }, worker));
  if (firstError !== undefined) throw firstError.error;
}

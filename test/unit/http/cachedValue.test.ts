// The status page's cache: one load per period however many readers, a reader never waits on a
// slow load for more than waitMs, a load that hangs is aborted, and the last good value survives.
import { describe, expect, it } from "vitest";
import { cachedValue } from "../../../src/http/cachedValue.ts";

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe("cachedValue", () => {
  it("loads once for a burst of readers and reuses the value within the period", async () => {
    let loads = 0;
    let clock = 0;
    const cache = cachedValue({
      load: async () => ++loads,
      ttlMs: 1000,
      timeoutMs: 1000,
      waitMs: 1000,
      now: () => clock,
    });
    const reads = await Promise.all(Array.from({ length: 50 }, () => cache.read()));
    expect(loads).toBe(1);
    expect(reads.every((r) => r.value === 1 && r.error === null)).toBe(true);
    clock = 999;
    expect((await cache.read()).value).toBe(1);
    clock = 1000;
    expect((await cache.read()).value).toBe(2);
    expect(loads).toBe(2);
  });

  it("serves the last value without waiting for a slow load, and never starts a second one", async () => {
    let clock = 0;
    let calls = 0;
    const slow = deferred<string>();
    const cache = cachedValue({
      load: () => (++calls === 1 ? Promise.resolve("first") : slow.promise),
      ttlMs: 10,
      timeoutMs: 60_000,
      waitMs: 5,
      now: () => clock,
    });
    expect((await cache.read()).value).toBe("first");
    clock = 100;
    const during = await Promise.all([cache.read(), cache.read(), cache.read()]);
    expect(during.map((r) => [r.value, r.refreshing])).toEqual([
      ["first", true],
      ["first", true],
      ["first", true],
    ]);
    expect(calls).toBe(2);
    slow.resolve("second");
    await slow.promise;
    await Promise.resolve();
    const after = await cache.read();
    expect([after.value, after.refreshing, after.error]).toEqual(["second", false, null]);
    cache.close();
  });

  it("aborts a load that outlives the timeout and keeps the last good value beside the error", async () => {
    let clock = 0;
    let calls = 0;
    let aborted: AbortSignal | null = null;
    const cache = cachedValue({
      load: (signal) => {
        if (++calls === 1) return Promise.resolve("good");
        aborted = signal;
        return new Promise<string>((_, reject) =>
          signal.addEventListener("abort", () => reject(new Error("query canceled"))),
        );
      },
      ttlMs: 10,
      timeoutMs: 20,
      waitMs: 200,
      now: () => clock,
    });
    await cache.read();
    clock = 100;
    const read = await cache.read();
    expect(aborted).not.toBeNull();
    expect(read).toMatchObject({
      value: "good",
      error: "no answer within 20 ms",
      refreshing: false,
    });
  });

  it("does not retry a failing load on every read", async () => {
    let clock = 0;
    let calls = 0;
    const cache = cachedValue({
      load: async () => {
        calls++;
        throw new Error("connection refused");
      },
      ttlMs: 1000,
      timeoutMs: 1000,
      waitMs: 1000,
      now: () => clock,
    });
    for (let i = 0; i < 5; i++) {
      expect(await cache.read()).toMatchObject({ value: null, error: "connection refused" });
    }
    expect(calls).toBe(1);
    clock = 1000;
    await cache.read();
    expect(calls).toBe(2);
  });
});

import { describe, expect, it } from "vitest";
import { runBounded } from "../../../src/reconciler/runBounded.ts";

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

describe("runBounded", () => {
  it("never runs more than `concurrency` tasks at once, and runs each item once", async () => {
    let running = 0;
    let most = 0;
    const seen: number[] = [];
    await runBounded([1, 2, 3, 4, 5, 6, 7], 3, new AbortController().signal, async (n) => {
      running++;
      most = Math.max(most, running);
      await tick();
      seen.push(n);
      running--;
    });
    expect(most).toBe(3);
    expect(seen.sort()).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it("starts nothing after an abort, and settles only once the started tasks have", async () => {
    const controller = new AbortController();
    const started: number[] = [];
    const finished: number[] = [];
    await runBounded([1, 2, 3, 4, 5], 2, controller.signal, async (n) => {
      started.push(n);
      if (n === 2) controller.abort();
      await tick();
      finished.push(n);
    });
    expect(started).toEqual([1, 2]);
    expect(finished.sort()).toEqual([1, 2]);
  });

  it("rejects with the first failure after every started task settled", async () => {
    const finished: number[] = [];
    const run = runBounded([1, 2, 3], 2, new AbortController().signal, async (n) => {
      if (n === 1) throw new Error("one");
      await tick();
      finished.push(n);
    });
    await expect(run).rejects.toThrow("one");
    expect(finished).toEqual([2]);
  });
});

import { describe, expect, it } from "vitest";
import { loadConfig } from "../../../src/config/config.ts";
import { defaultConcurrency } from "../../../src/config/defaultConcurrency.ts";
import { DEFAULT_RECONCILER_OPTIONS } from "../../../src/reconciler/options.ts";

describe("defaultConcurrency (the reference's calculateReconciliationConcurrency)", () => {
  it("is half the pool, between 1 and 5", () => {
    expect([10, 4, 2, 1, 0, -3, Number.NaN, 100].map(defaultConcurrency)).toEqual([
      5, 2, 1, 1, 1, 1, 1, 5,
    ]);
  });

  it("is what the configuration uses when PREBUILDS_RECONCILIATION_CONCURRENCY is unset", () => {
    const config = loadConfig({ PREBUILDS_DATABASE_MAX_CONNECTIONS: "6" });
    expect(config.concurrency).toBe(3);
  });
});

describe("the reconciler's defaults come from the settings table", () => {
  it("match the configuration loaded with nothing set", () => {
    const config = loadConfig({});
    expect(DEFAULT_RECONCILER_OPTIONS).toMatchObject({
      backoffInterval: config.backoffInterval,
      backoffLookback: config.backoffLookback,
      failureHardLimit: config.failureHardLimit,
      provisionerStaleAfter: config.provisionerStaleAfter,
      cancelPendingEnabled: config.cancelPending,
      jobHangTimeout: config.jobHangTimeout,
    });
    expect(DEFAULT_RECONCILER_OPTIONS.backoffInterval).toBe(60_000);
    expect(DEFAULT_RECONCILER_OPTIONS.jobHangTimeout).toBe(300_000);
  });
});

import { describe, expect, it } from "vitest";
import { loadConfig } from "../../../src/config/config.ts";
import { ConfigError } from "../../../src/config/configError.ts";
import { defaultDataDir } from "../../../src/config/dataDir.ts";

const HOME = { HOME: "/home/op" };

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

describe("loadConfig", () => {
  it("uses the reference's defaults when nothing is set", () => {
    const config = loadConfig(HOME, {}, { uid: 1000 });
    expect(config).toMatchObject({
      databaseUrl: null,
      reconciliationInterval: 60_000,
      fullResyncInterval: 600_000,
      backoffInterval: 60_000,
      backoffLookback: 3_600_000,
      failureHardLimit: 3,
      databaseMaxConnections: 10,
      concurrency: 5,
      httpAddress: { host: undefined, port: 2112 },
      logLevel: "info",
      logFormat: "json",
      cancelPending: true,
      replaceStopped: false,
      rolloutMaxWait: 1_800_000,
      jobHangTimeout: 300_000,
      provisionerTags: {},
      dataDir: "/home/op/.local/state/prebuildsd",
      otlpEndpoint: null,
      maxInflightJobs: null,
    });
  });

  it("reads PREBUILDS_MAX_INFLIGHT_JOBS=0 as no cap, like the in-flight cap metric's 0", () => {
    expect(loadConfig({ ...HOME, PREBUILDS_MAX_INFLIGHT_JOBS: "0" }).maxInflightJobs).toBeNull();
    expect(loadConfig(HOME, { maxInflightJobs: "0" }).maxInflightJobs).toBeNull();
    expect(loadConfig({ ...HOME, PREBUILDS_MAX_INFLIGHT_JOBS: "1" }).maxInflightJobs).toBe(1);
  });

  it("logs pretty on a terminal unless told otherwise", () => {
    expect(loadConfig(HOME, {}, { stderrIsTTY: true }).logFormat).toBe("pretty");
    expect(
      loadConfig({ ...HOME, PREBUILDS_LOG_FORMAT: "json" }, {}, { stderrIsTTY: true }).logFormat,
    ).toBe("json");
  });

  it("reads every environment variable", () => {
    const config = loadConfig({
      DATABASE_URL: "postgres://u:p@db:5432/x",
      PREBUILDS_RECONCILIATION_INTERVAL: "1h30m",
      PREBUILDS_FULL_RESYNC_INTERVAL: "30m",
      PREBUILDS_RECONCILIATION_BACKOFF_INTERVAL: "15s",
      PREBUILDS_RECONCILIATION_BACKOFF_LOOKBACK_PERIOD: "2h",
      PREBUILDS_FAILURE_HARD_LIMIT: "0",
      PREBUILDS_MAX_INFLIGHT_JOBS: "100",
      PREBUILDS_RECONCILIATION_CONCURRENCY: "3",
      PREBUILDS_DATABASE_MAX_CONNECTIONS: "20",
      PREBUILDS_STATEMENT_TIMEOUT: "0",
      PREBUILDS_LOCK_TIMEOUT: "2s",
      PREBUILDS_CANCEL_PENDING: "false",
      PREBUILDS_REPLACE_STOPPED: "true",
      PREBUILDS_ROLLOUT_MAX_WAIT: "2h",
      PREBUILDS_PROVISIONER_STALE_AFTER: "2m",
      PREBUILDS_JOB_HANG_TIMEOUT: "10m",
      PREBUILDS_PROVISIONER_TAGS: "is_prebuild=true, region=eu",
      PREBUILDS_METRICS_REFRESH_INTERVAL: "10s",
      PREBUILDS_HTTP_ADDRESS: "127.0.0.1:9000",
      PREBUILDS_LOG_LEVEL: "DEBUG",
      PREBUILDS_LOG_FORMAT: "pretty",
      PREBUILDS_DATA_DIR: "/srv/pb",
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318",
    });
    expect(config).toEqual({
      databaseUrl: "postgres://u:p@db:5432/x",
      reconciliationInterval: 5_400_000,
      fullResyncInterval: 1_800_000,
      backoffInterval: 15_000,
      backoffLookback: 7_200_000,
      failureHardLimit: 0,
      maxInflightJobs: 100,
      concurrency: 3,
      databaseMaxConnections: 20,
      statementTimeout: 0,
      lockTimeout: 2000,
      cancelPending: false,
      replaceStopped: true,
      rolloutMaxWait: 7_200_000,
      provisionerStaleAfter: 120_000,
      jobHangTimeout: 600_000,
      provisionerTags: { is_prebuild: "true", region: "eu" },
      metricsRefreshInterval: 10_000,
      httpAddress: { host: "127.0.0.1", port: 9000 },
      logLevel: "debug",
      logFormat: "pretty",
      dataDir: "/srv/pb",
      otlpEndpoint: "http://collector:4318",
    });
  });

  it("lets flags override the environment", () => {
    const config = loadConfig(
      { ...HOME, PREBUILDS_RECONCILIATION_INTERVAL: "5m", PREBUILDS_HTTP_ADDRESS: ":1" },
      { reconciliationInterval: "10s", httpAddress: "[::1]:0" },
    );
    expect(config.reconciliationInterval).toBe(10_000);
    expect(config.httpAddress).toEqual({ host: "::1", port: 0 });
  });

  it("accepts a full resync interval of 0: every cycle is a full resync", () => {
    expect(loadConfig({ ...HOME, PREBUILDS_FULL_RESYNC_INTERVAL: "0" }).fullResyncInterval).toBe(0);
  });

  it("treats an empty environment variable as unset", () => {
    expect(
      loadConfig({ ...HOME, PREBUILDS_RECONCILIATION_INTERVAL: "" }).reconciliationInterval,
    ).toBe(60_000);
  });

  it("rounds a sub-millisecond PostgreSQL timeout up instead of letting it mean 0 (disabled)", () => {
    const config = loadConfig({ ...HOME, PREBUILDS_STATEMENT_TIMEOUT: "0.5ms" });
    expect(config.statementTimeout).toBe(1);
    expect(loadConfig({ ...HOME, PREBUILDS_LOCK_TIMEOUT: "0" }).lockTimeout).toBe(0);
  });

  it("derives concurrency from the pool size, between 1 and 5", () => {
    expect(loadConfig({ ...HOME, PREBUILDS_DATABASE_MAX_CONNECTIONS: "2" }).concurrency).toBe(1);
    expect(loadConfig({ ...HOME, PREBUILDS_DATABASE_MAX_CONNECTIONS: "6" }).concurrency).toBe(3);
    expect(loadConfig({ ...HOME, PREBUILDS_DATABASE_MAX_CONNECTIONS: "50" }).concurrency).toBe(5);
  });

  it.each([
    [
      "PREBUILDS_RECONCILIATION_INTERVAL",
      "-5",
      'PREBUILDS_RECONCILIATION_INTERVAL must be a positive duration like "30s" (got "-5")',
    ],
    [
      "PREBUILDS_RECONCILIATION_INTERVAL",
      "0s",
      'PREBUILDS_RECONCILIATION_INTERVAL must be a positive duration like "30s" (got "0s")',
    ],
    [
      "PREBUILDS_RECONCILIATION_BACKOFF_LOOKBACK_PERIOD",
      "forever",
      'PREBUILDS_RECONCILIATION_BACKOFF_LOOKBACK_PERIOD must be a positive duration like "1h" (got "forever")',
    ],
    [
      "PREBUILDS_FAILURE_HARD_LIMIT",
      "-1",
      'PREBUILDS_FAILURE_HARD_LIMIT must be a whole number from 0 (disables the limit) to 1000000 (got "-1")',
    ],
    [
      "PREBUILDS_FAILURE_HARD_LIMIT",
      "2.5",
      'PREBUILDS_FAILURE_HARD_LIMIT must be a whole number from 0 (disables the limit) to 1000000 (got "2.5")',
    ],
    [
      "PREBUILDS_RECONCILIATION_CONCURRENCY",
      "0",
      'PREBUILDS_RECONCILIATION_CONCURRENCY must be a whole number between 1 and 100 (got "0")',
    ],
    [
      "PREBUILDS_HTTP_ADDRESS",
      "2112",
      'PREBUILDS_HTTP_ADDRESS must be a listen address like ":2112" or "127.0.0.1:2112" (got "2112")',
    ],
    [
      "PREBUILDS_HTTP_ADDRESS",
      ":99999",
      'PREBUILDS_HTTP_ADDRESS must be a listen address like ":2112" or "127.0.0.1:2112" (got ":99999")',
    ],
    [
      "PREBUILDS_LOG_LEVEL",
      "verbose",
      'PREBUILDS_LOG_LEVEL must be one of debug, info, warn, error, silent (got "verbose")',
    ],
    ["PREBUILDS_LOG_FORMAT", "xml", 'PREBUILDS_LOG_FORMAT must be json or pretty (got "xml")'],
    [
      "PREBUILDS_FULL_RESYNC_INTERVAL",
      "-10m",
      'PREBUILDS_FULL_RESYNC_INTERVAL must be a duration like "10m" (0 makes every cycle a full resync) (got "-10m")',
    ],
    [
      "PREBUILDS_FULL_RESYNC_INTERVAL",
      "hourly",
      'PREBUILDS_FULL_RESYNC_INTERVAL must be a duration like "10m" (0 makes every cycle a full resync) (got "hourly")',
    ],
    [
      "PREBUILDS_JOB_HANG_TIMEOUT",
      "0",
      'PREBUILDS_JOB_HANG_TIMEOUT must be a positive duration like "5m" (got "0")',
    ],
    [
      "PREBUILDS_PROVISIONER_TAGS",
      "is_prebuild",
      'PREBUILDS_PROVISIONER_TAGS must be key=value pairs separated by commas like "is_prebuild=true,region=eu" (got "is_prebuild")',
    ],
    [
      "PREBUILDS_LOCK_TIMEOUT",
      "9999h",
      'PREBUILDS_LOCK_TIMEOUT must be a duration from 0 (disabled) to 24 days like "5s" (got "9999h")',
    ],
    [
      "PREBUILDS_STATEMENT_TIMEOUT",
      "-1s",
      'PREBUILDS_STATEMENT_TIMEOUT must be a duration from 0 (disabled) to 24 days like "30s" (got "-1s")',
    ],
    [
      "PREBUILDS_MAX_INFLIGHT_JOBS",
      "-1",
      'PREBUILDS_MAX_INFLIGHT_JOBS must be a whole number from 0 (no cap) to 1000000 (got "-1")',
    ],
    [
      "PREBUILDS_MAX_INFLIGHT_JOBS",
      "99999999999",
      'PREBUILDS_MAX_INFLIGHT_JOBS must be a whole number from 0 (no cap) to 1000000 (got "99999999999")',
    ],
    [
      "PREBUILDS_FAILURE_HARD_LIMIT",
      "2000000",
      'PREBUILDS_FAILURE_HARD_LIMIT must be a whole number from 0 (disables the limit) to 1000000 (got "2000000")',
    ],
    [
      "PREBUILDS_CANCEL_PENDING",
      "maybe",
      'PREBUILDS_CANCEL_PENDING must be true or false (got "maybe")',
    ],
    [
      "PREBUILDS_REPLACE_STOPPED",
      "yes please",
      'PREBUILDS_REPLACE_STOPPED must be true or false (got "yes please")',
    ],
    [
      "PREBUILDS_ROLLOUT_MAX_WAIT",
      "0",
      'PREBUILDS_ROLLOUT_MAX_WAIT must be a positive duration like "30m" (got "0")',
    ],
  ])("rejects %s=%j with one line naming it", (name, value, message) => {
    const error = errorOf(() => loadConfig({ ...HOME, [name]: value }));
    expect(error.message).toBe(message);
    expect(error.message).not.toContain("\n");
  });

  it("names the flag when the bad value came from a flag", () => {
    expect(errorOf(() => loadConfig(HOME, { failureHardLimit: "many" })).message).toBe(
      '--failure-hard-limit must be a whole number from 0 (disables the limit) to 1000000 (got "many")',
    );
  });

  it("rejects a DATABASE_URL that is not a postgres URL without printing it whole", () => {
    const error = errorOf(() => loadConfig({ ...HOME, DATABASE_URL: "mysql://u:secret@h/db" }));
    expect(error.message.startsWith("DATABASE_URL must be a postgres:// URL")).toBe(true);
    expect(error.message).not.toContain("secret");
  });
});

describe("defaultDataDir", () => {
  it("uses /var/lib/prebuildsd as root, where the postgres user can enter", () => {
    expect(defaultDataDir({ HOME: "/root" }, 0)).toBe("/var/lib/prebuildsd");
  });

  it("prefers XDG_STATE_HOME, else ~/.local/state", () => {
    expect(defaultDataDir({ HOME: "/h", XDG_STATE_HOME: "/xdg" }, 1000)).toBe("/xdg/prebuildsd");
    expect(defaultDataDir({ HOME: "/h" }, 1000)).toBe("/h/.local/state/prebuildsd");
  });
});

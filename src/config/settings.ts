// Every setting prebuildsd reads: its environment variable, its flag, its default and what it
// accepts. The CLI's --help, the config loader and the README are all written from this table.
import { DEFAULT_ROLLOUT_MAX_WAIT_MS } from "../plan/surge.ts";
import { formatDuration, parseDuration } from "./duration.ts";
import { parseTagList } from "./tagList.ts";

export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false };

export interface Setting<T> {
  readonly env: string;
  /** Long flag without value, e.g. "--interval". */
  readonly flag: string;
  readonly description: string;
  /** Shown in help and docs; `undefined` when the default is computed (see description). */
  readonly defaultText: string | undefined;
  /** What the setting accepts, completing "X must be …". */
  readonly accepted: string;
  readonly parse: (raw: string) => Parsed<T>;
  /** Never echo the value in an error (it may hold a password). */
  readonly secret?: boolean;
}

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const bad: Parsed<never> = { ok: false };

function positiveDuration(raw: string): Parsed<number> {
  const ms = parseDuration(raw);
  return ms !== null && ms > 0 ? ok(ms) : bad;
}

function nonNegativeDuration(raw: string): Parsed<number> {
  const ms = parseDuration(raw);
  return ms !== null && ms >= 0 ? ok(ms) : bad;
}

/** PostgreSQL keeps statement_timeout and lock_timeout in an int of milliseconds. */
const MAX_POSTGRES_TIMEOUT_MS = 2_147_483_647;

/**
 * A PostgreSQL timeout: 0 disables it; otherwise whole milliseconds (pg truncates, so "0.5ms"
 * would silently disable it: round up), at most ~24 days (beyond, every connection would be
 * refused with "invalid value for parameter").
 */
function postgresTimeout(raw: string): Parsed<number> {
  const ms = parseDuration(raw);
  if (ms === null || ms < 0) return bad;
  const whole = Math.ceil(ms);
  return whole <= MAX_POSTGRES_TIMEOUT_MS ? ok(whole) : bad;
}

/** The largest count a whole-number setting accepts unless it says otherwise. */
const MAX_WHOLE_NUMBER = 1_000_000;

function integerAtLeast(min: number, max = MAX_WHOLE_NUMBER): (raw: string) => Parsed<number> {
  return (raw) => {
    if (!/^\s*\d+\s*$/.test(raw)) return bad;
    const n = Number(raw);
    return Number.isSafeInteger(n) && n >= min && n <= max ? ok(n) : bad;
  };
}

/** A cap where 0 means none (as the `…_in_flight_cap` metric reports it): 0 → null. */
function capOrNone(max = MAX_WHOLE_NUMBER): (raw: string) => Parsed<number | null> {
  const whole = integerAtLeast(0, max);
  return (raw) => {
    const parsed = whole(raw);
    return parsed.ok && parsed.value === 0 ? ok(null) : parsed;
  };
}

function oneOf<T extends string>(values: readonly T[]): (raw: string) => Parsed<T> {
  return (raw) => {
    const v = raw.trim().toLowerCase();
    return (values as readonly string[]).includes(v) ? ok(v as T) : bad;
  };
}

function boolean(raw: string): Parsed<boolean> {
  const v = raw.trim().toLowerCase();
  if (["true", "1", "yes", "on"].includes(v)) return ok(true);
  if (["false", "0", "no", "off"].includes(v)) return ok(false);
  return bad;
}

function tagList(raw: string): Parsed<Readonly<Record<string, string>>> {
  const tags = parseTagList(raw);
  return tags === null ? bad : ok(tags);
}

function nonEmpty(raw: string): Parsed<string> {
  return raw.trim() === "" ? bad : ok(raw.trim());
}

export interface ListenAddress {
  /** undefined listens on every interface (":2112"). */
  readonly host: string | undefined;
  readonly port: number;
}

function listenAddress(raw: string): Parsed<ListenAddress> {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(raw.trim());
  if (match === null) return bad;
  const port = Number(match[3]);
  if (port > 65_535) return bad;
  const host = match[1] ?? match[2] ?? "";
  return ok({ host: host === "" ? undefined : host, port });
}

function databaseUrl(raw: string): Parsed<string> {
  const value = raw.trim();
  try {
    const url = new URL(value);
    return url.protocol === "postgres:" || url.protocol === "postgresql:" ? ok(value) : bad;
  } catch {
    return bad;
  }
}

const LOG_LEVELS = ["debug", "info", "warn", "error", "silent"] as const;
const LOG_FORMATS = ["json", "pretty"] as const;

export const settings = {
  databaseUrl: {
    env: "DATABASE_URL",
    flag: "--database-url",
    description:
      "PostgreSQL connection string (never printed). Unset: run and demo start an embedded PostgreSQL in the data directory",
    defaultText: undefined,
    accepted: 'a postgres:// URL like "postgres://user:password@host:5432/db"',
    parse: databaseUrl,
    secret: true,
  },
  reconciliationInterval: {
    env: "PREBUILDS_RECONCILIATION_INTERVAL",
    flag: "--interval",
    description:
      "time between the end of one cycle and the start of the next (the first runs at start)",
    defaultText: "1m",
    accepted: 'a positive duration like "30s"',
    parse: positiveDuration,
  },
  fullResyncInterval: {
    env: "PREBUILDS_FULL_RESYNC_INTERVAL",
    flag: "--full-resync-interval",
    description:
      "time between full resyncs, cycles that read every preset; the cycles between read only the presets something changed or whose time came (0: every cycle is a full resync)",
    defaultText: "10m",
    accepted: 'a duration like "10m" (0 makes every cycle a full resync)',
    parse: nonNegativeDuration,
  },
  backoffInterval: {
    env: "PREBUILDS_RECONCILIATION_BACKOFF_INTERVAL",
    flag: "--backoff-interval",
    description: "wait added per recent failed build before a preset creates again",
    defaultText: "1m",
    accepted: 'a positive duration like "1m"',
    parse: positiveDuration,
  },
  backoffLookback: {
    env: "PREBUILDS_RECONCILIATION_BACKOFF_LOOKBACK_PERIOD",
    flag: "--backoff-lookback",
    description: "window in which failed builds count towards backoff",
    defaultText: "1h",
    accepted: 'a positive duration like "1h"',
    parse: positiveDuration,
  },
  failureHardLimit: {
    env: "PREBUILDS_FAILURE_HARD_LIMIT",
    flag: "--failure-hard-limit",
    description: "consecutive failed builds after which a preset stops creating (0 disables)",
    defaultText: "3",
    accepted: `a whole number from 0 (disables the limit) to ${MAX_WHOLE_NUMBER}`,
    parse: integerAtLeast(0),
  },
  maxInflightJobs: {
    env: "PREBUILDS_MAX_INFLIGHT_JOBS",
    flag: "--max-inflight-jobs",
    description:
      "cap on prebuild jobs pending, running or canceling at once: deletes first, then creates to the emptiest pools (0 or unset: no cap)",
    defaultText: undefined,
    accepted: `a whole number from 0 (no cap) to ${MAX_WHOLE_NUMBER}`,
    parse: capOrNone(),
  },
  concurrency: {
    env: "PREBUILDS_RECONCILIATION_CONCURRENCY",
    flag: "--concurrency",
    description:
      "presets reconciled in parallel (default: half the connection pool, between 1 and 5)",
    defaultText: undefined,
    accepted: "a whole number between 1 and 100",
    parse: integerAtLeast(1, 100),
  },
  databaseMaxConnections: {
    env: "PREBUILDS_DATABASE_MAX_CONNECTIONS",
    flag: "--database-max-connections",
    description: "size of the connection pool",
    defaultText: "10",
    accepted: "a whole number between 2 and 1000",
    parse: integerAtLeast(2, 1000),
  },
  statementTimeout: {
    env: "PREBUILDS_STATEMENT_TIMEOUT",
    flag: "--statement-timeout",
    description: "PostgreSQL statement_timeout for every connection (0 disables)",
    defaultText: "30s",
    accepted: 'a duration from 0 (disabled) to 24 days like "30s"',
    parse: postgresTimeout,
  },
  lockTimeout: {
    env: "PREBUILDS_LOCK_TIMEOUT",
    flag: "--lock-timeout",
    description:
      "PostgreSQL lock_timeout for every connection: a locked row fails the action instead of blocking the cycle (0 disables)",
    defaultText: "5s",
    accepted: 'a duration from 0 (disabled) to 24 days like "5s"',
    parse: postgresTimeout,
  },
  cancelPending: {
    env: "PREBUILDS_CANCEL_PENDING",
    flag: "--cancel-pending",
    description: "cancel the pending jobs of presets that are no longer active (true/false)",
    defaultText: "true",
    accepted: "true or false",
    parse: boolean,
  },
  replaceStopped: {
    env: "PREBUILDS_REPLACE_STOPPED",
    flag: "--replace-stopped",
    description:
      "delete prebuilds whose latest build is a stop (succeeded or failed), so the pool is refilled (true/false)",
    defaultText: "false",
    accepted: "true or false",
    parse: boolean,
  },
  rolloutMaxWait: {
    env: "PREBUILDS_ROLLOUT_MAX_WAIT",
    flag: "--rollout-max-wait",
    description:
      "with `rollout <template> surge`, the old version's prebuilds are deleted at the latest this long after a promotion",
    // The planner's fallback when no value is passed (plan/surge.ts) is the one home.
    defaultText: formatDuration(DEFAULT_ROLLOUT_MAX_WAIT_MS),
    accepted: 'a positive duration like "30m"',
    parse: positiveDuration,
  },
  provisionerStaleAfter: {
    env: "PREBUILDS_PROVISIONER_STALE_AFTER",
    flag: "--provisioner-stale-after",
    description:
      "a provisioner daemon not seen for this long no longer counts as live (orphan deletes then complete at once)",
    defaultText: "90s",
    accepted: 'a positive duration like "90s"',
    parse: positiveDuration,
  },
  jobHangTimeout: {
    env: "PREBUILDS_JOB_HANG_TIMEOUT",
    flag: "--job-hang-timeout",
    description:
      "a job a worker holds without a heartbeat for this long is hung: each cycle fails it (or completes it as canceled if it was canceling)",
    defaultText: "5m",
    accepted: 'a positive duration like "5m"',
    parse: positiveDuration,
  },
  provisionerTags: {
    env: "PREBUILDS_PROVISIONER_TAGS",
    flag: "--provisioner-tags",
    description:
      "tags every prebuild job carries, over its template version's provisioner tags (key=value,…), e.g. is_prebuild=true for a dedicated prebuild provisioner pool (default: none)",
    defaultText: undefined,
    accepted: 'key=value pairs separated by commas like "is_prebuild=true,region=eu"',
    parse: tagList,
  },
  metricsRefreshInterval: {
    env: "PREBUILDS_METRICS_REFRESH_INTERVAL",
    flag: "--metrics-refresh-interval",
    description:
      "how often the cached state behind the preset gauges is refreshed (scrapes never query)",
    defaultText: "1m",
    accepted: 'a positive duration like "1m"',
    parse: positiveDuration,
  },
  httpAddress: {
    env: "PREBUILDS_HTTP_ADDRESS",
    flag: "--http-address",
    description: "listen address of /metrics, /healthz and /readyz",
    defaultText: ":2112",
    accepted: 'a listen address like ":2112" or "127.0.0.1:2112"',
    parse: listenAddress,
  },
  logLevel: {
    env: "PREBUILDS_LOG_LEVEL",
    flag: "--log-level",
    description: "debug, info, warn, error or silent",
    defaultText: "info",
    accepted: "one of debug, info, warn, error, silent",
    parse: oneOf(LOG_LEVELS),
  },
  logFormat: {
    env: "PREBUILDS_LOG_FORMAT",
    flag: "--log-format",
    description: "json or pretty (default: pretty on a terminal, json otherwise)",
    defaultText: undefined,
    accepted: "json or pretty",
    parse: oneOf(LOG_FORMATS),
  },
  dataDir: {
    env: "PREBUILDS_DATA_DIR",
    flag: "--data-dir",
    description:
      "embedded PostgreSQL data directory (default: $XDG_STATE_HOME/prebuildsd, ~/.local/state/prebuildsd, or /var/lib/prebuildsd as root)",
    defaultText: undefined,
    accepted: "a directory path",
    parse: nonEmpty,
  },
} as const satisfies Record<string, Setting<unknown>>;

export type SettingKey = keyof typeof settings;
export type SettingValue<K extends SettingKey> = (typeof settings)[K]["parse"] extends (
  raw: string,
) => Parsed<infer T>
  ? T
  : never;

/** Flag name → option attribute commander uses: "--backoff-interval" → "backoffInterval". */
export function flagAttribute(flag: string): string {
  return flag.replace(/^--/, "").replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

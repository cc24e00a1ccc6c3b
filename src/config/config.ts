// The daemon's configuration, read once at start: flags override environment variables, every
// value is validated, and the result is passed down as a typed value (STYLE.md §7).
import type { LogFormat, LogLevel } from "../observe/logger.ts";
import { ConfigError, invalidSetting } from "./configError.ts";
import { defaultDataDir } from "./dataDir.ts";
import { defaultConcurrency } from "./defaultConcurrency.ts";
import {
  type ListenAddress,
  type Setting,
  type SettingKey,
  type SettingValue,
  settings,
} from "./settings.ts";

export interface Config {
  /** null: start an embedded PostgreSQL in `dataDir`. */
  readonly databaseUrl: string | null;
  /** Milliseconds between cycles. */
  readonly reconciliationInterval: number;
  /** Milliseconds between full resyncs; 0: every cycle is one (issue #16). */
  readonly fullResyncInterval: number;
  readonly backoffInterval: number;
  readonly backoffLookback: number;
  readonly failureHardLimit: number;
  /** PREBUILDS_MAX_INFLIGHT_JOBS (issue #13); null: no cap. */
  readonly maxInflightJobs: number | null;
  /** Unset: clamp(databaseMaxConnections / 2, 1, 5), the reference's rule. */
  readonly concurrency: number;
  readonly databaseMaxConnections: number;
  readonly statementTimeout: number;
  readonly lockTimeout: number;
  readonly cancelPending: boolean;
  /** PREBUILDS_REPLACE_STOPPED: delete stopped and failed-stop prebuilds (issue #15). false. */
  readonly replaceStopped: boolean;
  /** PREBUILDS_ROLLOUT_MAX_WAIT, ms: a surge rollout's bound (issue #15). 30m. */
  readonly rolloutMaxWait: number;
  readonly provisionerStaleAfter: number;
  /** ms without a heartbeat after which a held job is hung (issue #12). */
  readonly jobHangTimeout: number;
  /** Tags merged over each prebuild job's template version tags (issue #12). */
  readonly provisionerTags: Readonly<Record<string, string>>;
  readonly metricsRefreshInterval: number;
  readonly httpAddress: ListenAddress;
  readonly logLevel: LogLevel;
  readonly logFormat: LogFormat;
  readonly dataDir: string;
  /** OTEL_EXPORTER_OTLP_ENDPOINT; the SDK reads the rest of OTEL_* itself. */
  readonly otlpEndpoint: string | null;
}

export type Env = Readonly<Record<string, string | undefined>>;
/** Raw flag values by setting, as the command line gave them. */
export type FlagValues = Partial<Record<SettingKey, string>>;

export interface LoadOptions {
  /** Decides the default log format. */
  readonly stderrIsTTY?: boolean;
  readonly uid?: number | undefined;
}

function read<K extends SettingKey>(
  key: K,
  env: Env,
  flags: FlagValues,
): SettingValue<K> | undefined {
  const setting = settings[key] as Setting<SettingValue<K>>;
  const fromFlag = flags[key];
  const [name, raw] =
    fromFlag !== undefined ? [setting.flag, fromFlag] : [setting.env, env[setting.env]];
  // An empty environment variable means "unset", as most daemons treat it; an empty flag does not.
  if (raw === undefined || (raw === "" && fromFlag === undefined)) return undefined;
  const parsed = setting.parse(raw);
  if (!parsed.ok) throw invalidSetting(name, setting.accepted, raw, setting.secret === true);
  return parsed.value;
}

function readWithDefault<K extends SettingKey>(
  key: K,
  env: Env,
  flags: FlagValues,
): SettingValue<K> {
  return read(key, env, flags) ?? settingDefault(key);
}

/**
 * A setting's default, parsed from the one place it is written (`defaultText` in settings.ts), so
 * code that needs the default without a configuration (the reconciler's options) agrees with
 * `--help` and the README. Throws ConfigError when the setting has none (a bug).
 */
export function settingDefault<K extends SettingKey>(key: K): SettingValue<K> {
  const setting = settings[key] as Setting<SettingValue<K>>;
  if (setting.defaultText === undefined) {
    throw new ConfigError(`${setting.env} has no default (a bug: report it)`);
  }
  const parsed = setting.parse(setting.defaultText);
  if (!parsed.ok) throw new ConfigError(`${setting.env} default is invalid (a bug: report it)`);
  return parsed.value;
}

/** Throws ConfigError (one line naming the setting) on the first bad value. */
export function loadConfig(env: Env, flags: FlagValues = {}, options: LoadOptions = {}): Config {
  const databaseMaxConnections = readWithDefault("databaseMaxConnections", env, flags);
  const otlp = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  return {
    databaseUrl: read("databaseUrl", env, flags) ?? null,
    reconciliationInterval: readWithDefault("reconciliationInterval", env, flags),
    fullResyncInterval: readWithDefault("fullResyncInterval", env, flags),
    backoffInterval: readWithDefault("backoffInterval", env, flags),
    backoffLookback: readWithDefault("backoffLookback", env, flags),
    failureHardLimit: readWithDefault("failureHardLimit", env, flags),
    maxInflightJobs: read("maxInflightJobs", env, flags) ?? null,
    concurrency: read("concurrency", env, flags) ?? defaultConcurrency(databaseMaxConnections),
    databaseMaxConnections,
    statementTimeout: readWithDefault("statementTimeout", env, flags),
    lockTimeout: readWithDefault("lockTimeout", env, flags),
    cancelPending: readWithDefault("cancelPending", env, flags),
    replaceStopped: readWithDefault("replaceStopped", env, flags),
    rolloutMaxWait: readWithDefault("rolloutMaxWait", env, flags),
    provisionerStaleAfter: readWithDefault("provisionerStaleAfter", env, flags),
    jobHangTimeout: readWithDefault("jobHangTimeout", env, flags),
    provisionerTags: read("provisionerTags", env, flags) ?? {},
    metricsRefreshInterval: readWithDefault("metricsRefreshInterval", env, flags),
    httpAddress: readWithDefault("httpAddress", env, flags),
    logLevel: readWithDefault("logLevel", env, flags),
    logFormat:
      read("logFormat", env, flags) ?? ((options.stderrIsTTY ?? false) ? "pretty" : "json"),
    dataDir: read("dataDir", env, flags) ?? defaultDataDir(env, options.uid ?? process.getuid?.()),
    otlpEndpoint: otlp ? otlp : null,
  };
}

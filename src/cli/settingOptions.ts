// Commander options generated from the settings table, so every command's --help names the
// environment variable and default behind each flag.
import type { Command } from "commander";
import type { FlagValues } from "../config/config.ts";
import { flagAttribute, type SettingKey, settings } from "../config/settings.ts";

export const DATABASE_SETTINGS = [
  "databaseUrl",
  "dataDir",
  "databaseMaxConnections",
  "statementTimeout",
  "lockTimeout",
] as const satisfies readonly SettingKey[];
export const LOG_SETTINGS = ["logLevel", "logFormat"] as const satisfies readonly SettingKey[];
/** What the planner reads: `plan` takes these too, so it shows what `run` would do. */
export const PLANNER_SETTINGS = [
  "backoffInterval",
  "backoffLookback",
  "failureHardLimit",
  "maxInflightJobs",
  "replaceStopped",
  "rolloutMaxWait",
] as const satisfies readonly SettingKey[];
export const EXECUTOR_SETTINGS = [
  "concurrency",
  "cancelPending",
  "provisionerStaleAfter",
  "jobHangTimeout",
  "provisionerTags",
  "fullResyncInterval",
] as const satisfies readonly SettingKey[];
export const DAEMON_SETTINGS = [
  "reconciliationInterval",
  "metricsRefreshInterval",
  "httpAddress",
] as const satisfies readonly SettingKey[];

/**
 * Adds a `--flag <value>` per setting. `defaults` replaces the help's default where a command
 * applies its own (the demo's short interval), so --help says what the command really uses.
 */
export function addSettingOptions(
  command: Command,
  keys: readonly SettingKey[],
  defaults: Partial<Readonly<Record<SettingKey, string>>> = {},
): Command {
  for (const key of keys) {
    const setting = settings[key];
    const defaultText = defaults[key] ?? setting.defaultText;
    const origin =
      defaultText === undefined
        ? `env ${setting.env}`
        : `env ${setting.env}, default ${defaultText}`;
    command.option(`${setting.flag} <value>`, `${setting.description} [${origin}]`);
  }
  return command;
}

/** The raw flag values commander collected, keyed by setting. */
export function flagValues(
  options: Record<string, unknown>,
  keys: readonly SettingKey[],
): FlagValues {
  const values: FlagValues = {};
  for (const key of keys) {
    const raw = options[flagAttribute(settings[key].flag)];
    if (typeof raw === "string") values[key] = raw;
  }
  return values;
}

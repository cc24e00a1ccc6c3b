// What every command starts from: the validated config and a logger (stderr, so stdout carries
// only the command's output).
import { type Config, loadConfig } from "../config/config.ts";
import { registerDatabaseSecrets } from "../config/secrets.ts";
import type { SettingKey } from "../config/settings.ts";
import { createLogger, type Logger } from "../observe/logger.ts";
import { flagValues } from "./settingOptions.ts";

export interface CommandContext {
  readonly config: Config;
  readonly logger: Logger;
}

/** Throws ConfigError on a bad setting (the CLI exits 2). */
export function commandContext(
  options: Record<string, unknown>,
  keys: readonly SettingKey[],
): CommandContext {
  const config = loadConfig(process.env, flagValues(options, keys), {
    stderrIsTTY: process.stderr.isTTY === true,
  });
  registerDatabaseSecrets(config.databaseUrl);
  return { config, logger: createLogger({ level: config.logLevel, format: config.logFormat }) };
}

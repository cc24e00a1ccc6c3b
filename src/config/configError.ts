// A bad setting or bad command-line input: the CLI prints the one-line message and exits 2.

export class ConfigError extends Error {
  readonly _tag = "ConfigError";
  override readonly name = "ConfigError";
}

/** One line naming the setting, what it accepts and what it got. */
export function invalidSetting(
  name: string,
  accepted: string,
  got: string,
  secret = false,
): ConfigError {
  const shown = secret
    ? "a value that is not printed because it may hold a password"
    : JSON.stringify(got);
  return new ConfigError(`${name} must be ${accepted} (got ${shown})`);
}

// DATABASE_URL and its password never reach a log line, an error message or command output.
import { registerSecret } from "../observe/logger.ts";

export function registerDatabaseSecrets(url: string | null | undefined): void {
  if (!url) return;
  registerSecret(url);
  try {
    registerSecret(decodeURIComponent(new URL(url).password));
  } catch {
    // not a URL: nothing more to hide
  }
}

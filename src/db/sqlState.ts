// PostgreSQL's SQLSTATE of an error from pg (error codes appendix of the PostgreSQL manual).

/** The five-character SQLSTATE the server sent with `error`, e.g. "23505"; undefined otherwise. */
export function sqlState(error: unknown): string | undefined {
  if (typeof error === "object" && error !== null && "code" in error) {
    const code = (error as { code: unknown }).code;
    if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}

/**
 * Whether `error` is the server's integrity violation `state` (e.g. "23503", a foreign key) on the
 * constraint named `constraint` (e.g. "workspaces_owner_id_fkey"), as pg reports it.
 */
export function violates(error: unknown, state: string, constraint: string): boolean {
  return sqlState(error) === state && (error as { constraint?: unknown }).constraint === constraint;
}

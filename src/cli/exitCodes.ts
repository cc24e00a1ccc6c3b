// The process exit codes (DESIGN.md §4).
export const EXIT_OK = 0;
/** A runtime failure: the database is unreachable, a cycle could not run. */
export const EXIT_FAILURE = 1;
/** Bad configuration or command-line input; the message names the setting or argument. */
export const EXIT_USAGE = 2;

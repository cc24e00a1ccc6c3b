// Issue #11: `prebuildsd run` loads its modules for about 300 ms before the daemon installs its
// signal handlers; a SIGTERM in that window killed it with 143 instead of a clean exit 0. This
// module has no imports so that src/cli/main.ts evaluates it first: for `run`, it catches the
// shutdown signals from the very start and remembers the first one for listenForShutdown.

const SIGNALS = ["SIGTERM", "SIGINT", "SIGHUP"] as const;
type EarlySignal = (typeof SIGNALS)[number];

let received: EarlySignal | null = null;
const remember = (signal: EarlySignal): void => {
  received ??= signal;
};

/** The subcommand (first argument that is not an option) is `run`. */
function isDaemon(argv: readonly string[]): boolean {
  return argv.slice(2).find((a) => !a.startsWith("-")) === "run";
}

if (isDaemon(process.argv)) {
  for (const signal of SIGNALS) process.on(signal, remember);
  // `ps` shows what this process is; set once the handlers are in place, so that it also marks
  // the moment from which a shutdown signal is caught.
  process.title = "prebuildsd run";
}

/**
 * Stops catching early and returns the signal received before the daemon's own handlers were
 * installed, if any (then the daemon stops as soon as it can, and exits 0).
 */
export function takeEarlyShutdownSignal(): EarlySignal | null {
  for (const signal of SIGNALS) process.removeListener(signal, remember);
  return received;
}

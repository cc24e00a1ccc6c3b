// Which process runs a data directory's embedded server (issue #14: a `run` killed with -9 left its
// server running, and the next `run` attached to it silently and never stopped it). The process
// that starts the server records itself; one that finds the server running with its recorder gone
// knows the server is an orphan, and stops it before starting its own.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface EmbeddedOwner {
  /** The prebuildsd process that started the server. */
  readonly pid: number;
  readonly postmasterPid: number;
}

export function embeddedOwnerFile(dataDir: string): string {
  return join(dataDir, "owner.json");
}

export function readEmbeddedOwner(dataDir: string): EmbeddedOwner | null {
  const file = embeddedOwnerFile(dataDir);
  if (!existsSync(file)) return null;
  try {
    const value = JSON.parse(readFileSync(file, "utf8")) as Partial<EmbeddedOwner>;
    if (Number.isInteger(value.pid) && Number.isInteger(value.postmasterPid)) {
      return { pid: value.pid as number, postmasterPid: value.postmasterPid as number };
    }
  } catch {
    // unreadable or half-written: treated as no owner
  }
  return null;
}

/** Whether `pid` is a live process (EPERM: alive, another user's). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

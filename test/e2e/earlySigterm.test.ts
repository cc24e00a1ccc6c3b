// Issue #11: a supervisor may stop `prebuildsd run` right after starting it. A SIGTERM that
// arrives while the program is still loading its modules exits 0 (it used to kill the process
// with 143), and so does one at each step of start-up.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshDatabase, type TestDatabase } from "../harness/freshDatabase.ts";
import { startDaemon } from "./cli.ts";

let db: TestDatabase;

beforeAll(async () => {
  db = await freshDatabase();
});

afterAll(async () => {
  await db?.drop();
});

/**
 * True once the first module has run: it installs the handlers, then sets the process title.
 * (SigCgt cannot tell: Node catches SIGTERM from its own boot, to restore the terminal and die.)
 */
function catchesSigterm(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").startsWith("prebuildsd run");
  } catch {
    return false;
  }
}

function startRun() {
  return startDaemon(["run", "--http-address", "127.0.0.1:0"], {
    DATABASE_URL: db.url,
    PREBUILDS_RECONCILIATION_INTERVAL: "1h",
  });
}

/** Starts `run` and waits until its first module has installed the early handler. */
async function startedRun() {
  const daemon = startRun();
  const pid = daemon.child.pid as number;
  const deadline = Date.now() + 10_000;
  while (!catchesSigterm(pid) && Date.now() < deadline && daemon.child.exitCode === null) {
    await new Promise((resolve) => setImmediate(resolve));
  }
  expect(catchesSigterm(pid)).toBe(true);
  return daemon;
}

describe("SIGTERM right after start (built binary)", () => {
  // Node's own boot, before any JavaScript runs, cannot catch a signal; from the first module on,
  // every instant of start-up can. The delays cover loading, opening the pool and listening.
  it.each([0, 150, 300, 600])("%i ms after the process can catch it: exits 0", async (ms) => {
    const daemon = await startedRun();
    await new Promise((resolve) => setTimeout(resolve, ms));
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
    expect(daemon.output()).not.toMatch(/"level":50/);
  });
});

// The embedded PostgreSQL `run` starts without DATABASE_URL (issue #14): a daemon killed with -9
// leaves its server behind, and the next `run` must stop that orphan instead of attaching to it
// and never stopping it; each data directory has its own password, readable by its owner only.
import { readFileSync, statSync } from "node:fs";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isProcessAlive } from "../../src/db/embeddedOwner.ts";
import { embeddedDatabaseUrl, LEGACY_EMBEDDED_PASSWORD } from "../../src/db/embeddedUrl.ts";
import { cli, type Daemon, startDaemon } from "../e2e/cli.ts";

let dataDir: string;
const daemons: Daemon[] = [];

function postmaster(): { pid: number; port: number } {
  const lines = readFileSync(join(dataDir, "pgdata", "postmaster.pid"), "utf8").split("\n");
  return { pid: Number(lines[0]), port: Number(lines[3]) };
}

function run(): Daemon {
  const daemon = startDaemon(["run", "--http-address", "127.0.0.1:0"], {
    PREBUILDS_DATA_DIR: dataDir,
    PREBUILDS_RECONCILIATION_INTERVAL: "1h",
  });
  daemons.push(daemon);
  return daemon;
}

async function waitUntilGone(pid: number): Promise<void> {
  for (let i = 0; i < 300 && isProcessAlive(pid); i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "prebuildsd-embedded-test-"));
  // As root the server runs as `postgres`, which must enter the directory.
  await chmod(dataDir, 0o755);
});

afterAll(async () => {
  for (const daemon of daemons) if (daemon.child.exitCode === null) daemon.child.kill("SIGKILL");
  try {
    const { pid } = postmaster();
    if (isProcessAlive(pid)) process.kill(pid, "SIGINT");
    await waitUntilGone(pid);
  } catch {
    // no server left
  }
  await rm(dataDir, { recursive: true, force: true });
});

describe("embedded PostgreSQL", () => {
  it("gives its data directory a password of its own, readable by its owner only", async () => {
    const first = run();
    await first.waitForLog("serving /metrics", 120_000);
    const file = join(dataDir, "password");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const password = readFileSync(file, "utf8").trim();
    expect(password.length).toBeGreaterThanOrEqual(24);
    expect(password).not.toBe(LEGACY_EMBEDDED_PASSWORD);
    // The old fixed password no longer lets anyone in; a wrong password is named as such.
    const { port } = postmaster();
    const legacy = new pg.Client({
      connectionString: embeddedDatabaseUrl(port, LEGACY_EMBEDDED_PASSWORD),
    });
    await expect(legacy.connect()).rejects.toMatchObject({ code: "28P01" });
    const wrong = await cli(["status"], { DATABASE_URL: embeddedDatabaseUrl(port, "wrong") });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toBe(
      'prebuildsd: cannot connect to the database: password authentication failed for user "postgres": check the password in DATABASE_URL (or --database-url)\n',
    );
    // A one-shot command finds the running server and its password by itself.
    const status = await cli(["status"], { PREBUILDS_DATA_DIR: dataDir });
    expect(status.code).toBe(0);
    expect(status.stdout).toContain("reconciliation: active");
  }, 180_000);

  it("after run is killed with -9, the next run stops the server it left and runs its own", async () => {
    const first = daemons[0] as Daemon;
    const orphan = postmaster().pid;
    first.child.kill("SIGKILL");
    await first.exited;
    // What used to leak: the server outlives the daemon that started it.
    expect(isProcessAlive(orphan)).toBe(true);

    const second = run();
    await second.waitForLog("left running by a prebuildsd that is gone", 120_000);
    await second.waitForLog("serving /metrics", 120_000);
    expect(isProcessAlive(orphan)).toBe(false);
    const own = postmaster().pid;
    expect(own).not.toBe(orphan);

    second.child.kill("SIGTERM");
    expect(await second.exited).toBe(0);
    await waitUntilGone(own);
    expect(isProcessAlive(own)).toBe(false);
  }, 240_000);
});

describe("embedded PostgreSQL dying under the daemon", () => {
  it("ends the daemon with exit 1 and a line saying so, without waiting out a deadline", async () => {
    const daemon = run();
    await daemon.waitForLog("serving /metrics", 120_000);
    const { pid } = postmaster();
    process.kill(pid, "SIGKILL");
    const line = await daemon.waitForLog("the embedded PostgreSQL killed by SIGKILL", 60_000);
    expect(line.level).toBe(50);
    expect(await daemon.exited).toBe(1);
    expect(daemon.output()).toContain(
      "prebuildsd: the embedded PostgreSQL killed by SIGKILL: restart prebuildsd",
    );
    // Stopped by itself, not by the signal handler's deadline.
    expect(daemon.output()).not.toContain("overran");
  }, 240_000);
});

describe("one-shot commands without DATABASE_URL", () => {
  it("do not create an embedded database: they name DATABASE_URL and `prebuildsd migrate` (exit 2)", async () => {
    const empty = await mkdtemp(join(tmpdir(), "prebuildsd-no-cluster-"));
    try {
      for (const command of [["plan"], ["status"], ["reconcile", "--once"]]) {
        const result = await cli(command, { PREBUILDS_DATA_DIR: empty });
        expect({ command, code: result.code }).toEqual({ command, code: 2 });
        expect(result.stderr).toContain("DATABASE_URL is not set");
        expect(result.stderr).toContain("prebuildsd migrate");
      }
      // No cluster was initialised (a `plan` used to create one, then report an empty schema).
      expect(() => statSync(join(empty, "pgdata", "PG_VERSION"))).toThrow();
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  }, 60_000);
});

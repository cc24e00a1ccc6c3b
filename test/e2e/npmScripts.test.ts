// The package's scripts that run prebuildsd from a checkout (README: `npm run prebuildsd -- run`,
// `npm start`) stop with it: each script `exec`s node, so the SIGTERM npm forwards to its child
// reaches the daemon. Without `exec`, sh ran node as its own child and died alone, leaving the
// daemon running under PID 1 (operator review, second pass).
import { execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { projectRoot } from "../../src/projectRoot.ts";
import { freshDatabase, type TestDatabase } from "../harness/freshDatabase.ts";

let db: TestDatabase;

beforeAll(async () => {
  db = await freshDatabase();
});

afterAll(async () => {
  await db?.drop();
});

/** Every process below `pid` (children first listed by pgrep -P), depth first. */
function descendants(pid: number): number[] {
  let out = "";
  try {
    out = execFileSync("pgrep", ["-P", String(pid)], { encoding: "utf8" });
  } catch {
    return []; // pgrep exits 1 when there is none
  }
  const children = out.split("\n").filter(Boolean).map(Number);
  return children.flatMap((child) => [child, ...descendants(child)]);
}

/** Running, not merely waiting to be reaped. */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

describe("npm run prebuildsd -- run", () => {
  it("stops the daemon when npm is sent SIGTERM", async () => {
    const npm = spawn(
      "npm",
      ["run", "--silent", "prebuildsd", "--", "run", "--http-address", "127.0.0.1:0"],
      {
        cwd: projectRoot,
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          DATABASE_URL: db.url,
          PREBUILDS_LOG_FORMAT: "json",
          PREBUILDS_RECONCILIATION_INTERVAL: "1h",
        },
        stdio: "pipe",
      },
    );
    let output = "";
    const serving = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "serving" line:\n${output}`)), 30_000);
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes("serving /metrics")) {
          clearTimeout(timer);
          resolve();
        }
      };
      npm.stdout.on("data", onData);
      npm.stderr.on("data", onData);
    });
    const exited = new Promise<void>((resolve) => npm.on("close", () => resolve()));
    let below: number[] = [];
    try {
      await serving;
      below = descendants(npm.pid ?? 0);
      expect(below.length).toBeGreaterThan(0);
      npm.kill("SIGTERM");
      await exited;
      const deadline = Date.now() + 15_000;
      while (below.some(running) && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 100));
      expect(below.filter(running)).toEqual([]);
      expect(output).toContain("stopped cleanly");
    } finally {
      for (const pid of below.filter(running)) process.kill(pid, "SIGKILL");
      if (npm.exitCode === null) npm.kill("SIGKILL");
    }
  }, 60_000);
});

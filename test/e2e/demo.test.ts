// `prebuildsd demo` as a new operator meets it (issue #14): piped, it still shows where to look
// (status page, metrics), it shows a user claiming a ready prebuild, it refuses to seed a database
// that has templates, and a reader that stops early (`demo | head`) stops it cleanly with its
// temporary files removed.
import { spawn } from "node:child_process";
import { chmod, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { projectRoot } from "../../src/projectRoot.ts";
import { freshDatabase, type TestDatabase } from "../harness/freshDatabase.ts";
import { BIN, cli } from "./cli.ts";

const NODE = join(projectRoot, "node_modules", ".bin", "node");

let db: TestDatabase;
let tmp: string;

beforeAll(async () => {
  db = await freshDatabase();
  tmp = await mkdtemp(join(tmpdir(), "prebuildsd-demo-test-"));
  // As root the embedded server runs as `postgres`, which must enter the demo's directories.
  await chmod(tmp, 0o755);
});

afterAll(async () => {
  await db?.drop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** --help's text with commander's line wrapping undone. */
async function helpText(command: string): Promise<string> {
  const result = await cli([command, "--help"], {});
  expect(result.code).toBe(0);
  return result.stdout.replace(/\s+/g, " ");
}

describe("prebuildsd demo (built binary)", () => {
  it("--help gives the demo's own defaults, not the daemon's", async () => {
    const demo = await helpText("demo");
    expect(demo).toContain("[env PREBUILDS_RECONCILIATION_INTERVAL, default 3s]");
    expect(demo).toContain("[env PREBUILDS_RECONCILIATION_BACKOFF_INTERVAL, default 10s]");
    expect(demo).toContain(
      "[env PREBUILDS_HTTP_ADDRESS, default 127.0.0.1 on a free port, printed at start]",
    );
    expect(demo).not.toMatch(/default (1m|:2112)\]/);
    // The daemon's help keeps the production defaults.
    const run = await helpText("run");
    expect(run).toContain("[env PREBUILDS_RECONCILIATION_INTERVAL, default 1m]");
    expect(run).toContain("[env PREBUILDS_RECONCILIATION_BACKOFF_INTERVAL, default 1m]");
    expect(run).toContain("[env PREBUILDS_HTTP_ADDRESS, default :2112]");
  });

  it("piped, shows its URLs and a user claiming a ready prebuild", async () => {
    const result = await cli(
      ["demo", "--duration", "25s", "--provisioners", "3", "--database-url", db.url],
      { TMPDIR: tmp },
    );
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      /status page http:\/\/127\.0\.0\.1:\d+\/ · metrics http:\/\/127\.0\.0\.1:\d+\/metrics/,
    );
    expect(result.stdout).toMatch(
      /\* user alice claimed a ready v\d\/(small|large) prebuild as workspace "alice-workspace" in \d+ ms/,
    );
    expect(result.stdout).toMatch(/1 prebuild claimed by alice in \d+ ms/);
    const owner = await db.pool.query(
      "SELECT u.username FROM workspaces w JOIN users u ON u.id = w.owner_id WHERE w.name = 'alice-workspace'",
    );
    expect(owner.rows).toEqual([{ username: "alice" }]);
  });

  it("refuses to seed a database that has templates, unless --force", async () => {
    const before = await readdir(tmp);
    const refusal =
      "prebuildsd: --database-url points at a database that already has 1 template(s); the demo seeds its own template, promotes versions and claims a prebuild there. Use an empty scratch database, or add --force to seed anyway\n";
    const result = await cli(["demo", "--database-url", db.url], { TMPDIR: tmp });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(refusal);
    // Refused first: no "logs in <dir>" line about a directory it would then remove.
    expect(result.stdout).toBe("");
    // Nothing was seeded, and the refused run left no directory behind.
    expect((await db.pool.query("SELECT 1 FROM templates")).rowCount).toBe(1);
    expect(await readdir(tmp)).toEqual(before);
    // It creates nothing at all before refusing: a temporary directory it cannot write to does not
    // matter (creating the log directory there would fail first).
    const missing = await cli(["demo", "--database-url", db.url], {
      TMPDIR: join(tmp, "does-not-exist"),
    });
    expect(missing.stderr).toBe(refusal);
    expect(missing.code).toBe(2);
  });

  it("stops cleanly when its reader goes away (demo | head), removing its database directory", async () => {
    const own = await mkdtemp(join(tmp, "head-"));
    await chmod(own, 0o755);
    const { out, err, status } = await new Promise<{ out: string; err: string; status: string }>(
      (resolve, reject) => {
        const child = spawn(
          "bash",
          [
            "-c",
            `"$NODE" "$BIN" demo --duration 10m 2>"$TMPDIR/err" | head -n 2; echo "\${PIPESTATUS[0]}"; cat "$TMPDIR/err" >&2`,
          ],
          { env: { PATH: process.env.PATH, HOME: process.env.HOME, NODE, BIN, TMPDIR: own } },
        );
        let out = "";
        let err = "";
        child.stdout.on("data", (c: Buffer) => {
          out += c.toString();
        });
        child.stderr.on("data", (c: Buffer) => {
          err += c.toString();
        });
        child.on("error", reject);
        child.on("close", () => {
          const lines = out.trimEnd().split("\n");
          resolve({ out: lines.slice(0, -1).join("\n"), err, status: lines.at(-1) ?? "" });
        });
      },
    );
    // It did not run its ten minutes: the test's timeout would have failed it.
    expect(out.split("\n")).toHaveLength(2);
    expect(status).toBe("0");
    expect(err).not.toMatch(/EPIPE|Error| {4}at /);
    const left = (await readdir(own)).filter((name) => name !== "err");
    // The throwaway database directory is gone; the log directory it printed is kept.
    expect(left.filter((name) => name.startsWith("prebuildsd-demo-pg-"))).toEqual([]);
    expect(left.filter((name) => name.startsWith("prebuildsd-demo-"))).toHaveLength(1);
  }, 120_000);
});

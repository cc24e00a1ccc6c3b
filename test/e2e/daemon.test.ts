// `prebuildsd run` as a supervisor runs it: it serves /metrics, /healthz and /readyz on one port,
// runs its first cycle at start, and stops cleanly on SIGTERM with exit code 0.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LAUNCH_NODE_FLAGS } from "../../src/cli/launchFlags.ts";
import { seedDemo } from "../../src/demo/seedDemo.ts";
import { freshDatabase, type TestDatabase } from "../harness/freshDatabase.ts";
import { type Daemon, startDaemon } from "./cli.ts";

let db: TestDatabase;
let daemon: Daemon;
let base: string;
/** The daemon's "prebuildsd running" log line. */
let running: Record<string, unknown>;

async function get(path: string, init?: RequestInit): Promise<{ status: number; body: string }> {
  const response = await fetch(`${base}${path}`, init);
  return { status: response.status, body: await response.text() };
}

beforeAll(async () => {
  db = await freshDatabase();
  await seedDemo(db.pool);
  daemon = startDaemon(["run", "--http-address", "127.0.0.1:0"], {
    DATABASE_URL: db.url,
    // One cycle at start, and none after it during the test.
    PREBUILDS_RECONCILIATION_INTERVAL: "1h",
  });
  running = await daemon.waitForLog("serving /metrics");
  base = `http://${String(running.address)}`;
  await daemon.waitForLog("reconciliation cycle completed");
});

afterAll(async () => {
  if (daemon && daemon.child.exitCode === null) daemon.child.kill("SIGKILL");
  await db?.drop();
});

describe("prebuildsd run (built binary)", () => {
  it("logs the Node.js flags it runs with (its launch flags), and no warning about them", () => {
    expect(running.nodeFlags).toBe(LAUNCH_NODE_FLAGS.join(" "));
    expect(daemon.output()).not.toContain("launch flags");
  });

  it("runs its first cycle at start, without waiting an interval", async () => {
    const rows = await db.pool.query("SELECT 1 FROM workspaces");
    expect(rows.rowCount).toBe(7);
  });

  it("answers /healthz and /readyz", async () => {
    expect(await get("/healthz")).toEqual({ status: 200, body: "ok\n" });
    expect(await get("/readyz")).toEqual({ status: 200, body: "ready\n" });
  });

  it("serves the reference's metrics and its own, every label series from zero", async () => {
    const { status, body } = await get("/metrics");
    expect(status).toBe(200);
    for (const name of [
      "coderd_prebuilt_workspaces_created_total",
      "coderd_prebuilt_workspaces_failed_total",
      "coderd_prebuilt_workspaces_claimed_total",
      "coderd_prebuilt_workspaces_desired",
      "coderd_prebuilt_workspaces_running",
      "coderd_prebuilt_workspaces_eligible",
      "coderd_prebuilt_workspaces_preset_hard_limited",
      "coderd_prebuilt_workspaces_preset_validation_failed",
      "coderd_prebuilt_workspaces_metrics_last_updated",
      "coderd_prebuilt_workspaces_reconciliation_paused",
      "coderd_prebuilds_reconciliation_duration_seconds",
    ]) {
      expect(body).toContain(`# TYPE ${name} `);
    }
    expect(body).toContain('coderd_prebuilds_reconciliation_duration_seconds_bucket{le="10"} 1');
    expect(body).toContain('prebuildsd_actions_total{type="create",outcome="success"} 2');
    expect(body).toContain('prebuildsd_actions_total{type="cancel_pending",outcome="failure"} 0');
    expect(body).toContain('prebuildsd_reconciliation_cycles_total{outcome="completed"} 1');
    expect(body).toContain("prebuildsd_reconciliation_cycle_errors_total 0");
    expect(body).toMatch(/^prebuildsd_last_successful_cycle_timestamp_seconds [1-9]/m);
    expect(body).toContain("prebuildsd_reconciliation_lock_held 0");
    // Started with prebuildsd's launch flags (src/cli/launchFlags.ts): a 4 MB semi-space, so the
    // young generation is at most two of them (Node's default grows it to 128 MB).
    const young = body.match(/^nodejs_heap_space_size_total_bytes\{space="new"\} (\d+)/m);
    expect(Number(young?.[1])).toBeGreaterThan(0);
    expect(Number(young?.[1])).toBeLessThanOrEqual(8 * 1024 * 1024);
  });

  it("serves the status page at / with the seeded presets, as HTML that may run no script", async () => {
    const response = await fetch(`${base}/`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(response.headers.get("content-security-policy")).toContain("default-src 'none'");
    const html = await response.text();
    expect(html).toContain("<title>prebuildsd status</title>");
    expect(html).toMatch(/<td class="name">small<\/td>/);
    expect(html).toMatch(/<td class="name">large<\/td>/);
  });

  it("404s unknown paths and ignores request bodies", async () => {
    expect((await get("/debug/pprof")).status).toBe(404);
    expect((await get("/healthz", { method: "POST", body: "x".repeat(100_000) })).status).toBe(405);
    expect((await get("/healthz")).status).toBe(200);
  });

  it("stops on SIGTERM with exit code 0, never printing the database password", async () => {
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
    expect(daemon.output()).toContain("stopped cleanly");
    const password = new URL(db.url).password;
    if (password) expect(daemon.output()).not.toContain(password);
    expect(daemon.output()).not.toContain(db.url);
  });
});

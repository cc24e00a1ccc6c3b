// Security, end to end with the built binary: every command runs as a LOGIN role that holds only
// prebuildsd_runtime (migration 0040) and has a password; nothing it prints, logs or serves ever
// shows that password or the DATABASE_URL; the HTTP port serves three paths and nothing else and
// survives a burst of 10,000 local requests.
import { request } from "node:http";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DemoWorld, seedDemo } from "../../src/demo/seedDemo.ts";
import { type CliResult, cli, type Daemon, startDaemon } from "../e2e/cli.ts";
import {
  seedOrganization,
  seedPrebuild,
  seedPreset,
  seedTemplate,
  seedTemplateParameter,
  seedUser,
  seedWorkspace,
} from "../fixtures/seed.ts";
import { freshDatabase, type TestDatabase } from "../harness/freshDatabase.ts";
import {
  daemonBase,
  exitWithin,
  get,
  killIfRunning,
  metric,
  presetPools,
  runtimeLoginRole,
  waitFor,
} from "./support.ts";

let db: TestDatabase;
let world: DemoWorld;
let login: Awaited<ReturnType<typeof runtimeLoginRole>>;
let env: Record<string, string>;
let daemon: Daemon | undefined;
let base: string;
let userWorkspaceId: string;
let v1RunningPrebuild: string;
/** Everything any prebuildsd process printed or served during this file, grepped at the end. */
const printed: string[] = [];

/** One request sent exactly as given: the path is not normalised, a body may ride on any method. */
function raw(
  method: string,
  path: string,
  body?: Buffer,
): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: hostname,
        port,
        method,
        path,
        headers: body ? { "content-length": body.length } : {},
      },
      (res) => {
        let text = "";
        res.on("data", (chunk: Buffer) => {
          text += chunk.toString();
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

async function run(args: string[], extra: Record<string, string> = {}): Promise<CliResult> {
  const result = await cli(args, { ...env, ...extra });
  printed.push(result.stdout, result.stderr);
  return result;
}

beforeAll(async () => {
  db = await freshDatabase();
  world = await seedDemo(db.pool);
  const v1 = world.versions[0]?.id as string;
  const template = {
    organizationId: world.organizationId,
    templateId: world.templateId,
    versionIds: world.versions.map((v) => v.id),
    activeVersionId: v1,
  };
  const small = await db.pool.query<{ id: string }>(
    "SELECT id FROM template_version_presets WHERE template_version_id = $1 AND name = 'small'",
    [v1],
  );
  // A running prebuild of v1 (deleted after the promotion: needs UPDATE on workspaces for the
  // row lock) and, as antagonist, a user's own workspace on the same template.
  v1RunningPrebuild = (
    await seedPrebuild(db.pool, { template, presetId: small.rows[0]?.id as string })
  ).workspaceId;
  userWorkspaceId = await seedWorkspace(db.pool, {
    template,
    ownerId: (await seedUser(db.pool)).id,
  });
  // A preset whose last three builds failed (hard limit: UPDATE on template_version_presets) and
  // one that misses a required parameter (validation failure: the same column).
  const org = await seedOrganization(db.pool);
  const flaky = await seedTemplate(db.pool, { organizationId: org.id, name: "flaky" });
  const flakyPreset = await seedPreset(db.pool, {
    versionId: flaky.activeVersionId,
    desiredInstances: 2,
  });
  for (let i = 0; i < 3; i++) {
    await seedPrebuild(db.pool, { template: flaky, presetId: flakyPreset, state: "failed" });
  }
  const strict = await seedTemplate(db.pool, { organizationId: org.id, name: "strict" });
  await seedTemplateParameter(db.pool, { versionId: strict.activeVersionId, name: "region" });
  await seedPreset(db.pool, { versionId: strict.activeVersionId, desiredInstances: 1 });

  login = await runtimeLoginRole(db.name);
  env = { DATABASE_URL: login.url, PREBUILDS_LOG_LEVEL: "info" };
});

afterAll(async () => {
  killIfRunning(daemon);
  await db?.drop();
  await login?.drop();
});

describe("the prebuildsd_runtime role", () => {
  it("holds exactly the privileges the daemon uses, and no DDL", async () => {
    const tables = await db.pool.query<{ grant: string }>(`
      SELECT table_name || ':' || string_agg(privilege_type, ',' ORDER BY privilege_type) AS grant
      FROM information_schema.role_table_grants
      WHERE grantee = 'prebuildsd_runtime' GROUP BY table_name ORDER BY table_name`);
    expect(tables.rows.map((r) => r.grant)).toEqual([
      "organizations:SELECT",
      "pgmigrations:SELECT",
      "prebuild_desired_overrides:DELETE,INSERT,SELECT",
      "prebuild_dirty_presets:DELETE,INSERT,SELECT",
      "prebuild_dirty_rows:DELETE,SELECT",
      "prebuild_failure_resets:INSERT,SELECT",
      "prebuild_marked_presets:SELECT",
      "prebuild_pauses:DELETE,INSERT,SELECT",
      "prebuild_preset_wakeups:DELETE,INSERT,SELECT",
      "prebuild_reconciler_state:SELECT",
      "prebuild_reconciliation_runs:DELETE,INSERT,SELECT",
      "prebuild_rollout_policies:INSERT,SELECT",
      "prebuild_template_promotions:SELECT",
      "provisioner_daemons:SELECT",
      "provisioner_jobs:INSERT,SELECT",
      "site_configs:INSERT,SELECT",
      "template_version_parameters:SELECT",
      "template_version_preset_parameters:SELECT",
      "template_version_preset_prebuild_schedules:SELECT",
      "template_version_presets:SELECT",
      "template_versions:SELECT",
      "templates:SELECT",
      "workspace_agents:SELECT",
      "workspace_build_parameters:INSERT,SELECT",
      "workspace_builds:INSERT,SELECT",
      "workspace_latest_builds:SELECT",
      "workspace_prebuild_builds:SELECT",
      "workspace_resources:SELECT",
      "workspaces:INSERT,SELECT",
    ]);
    const columns = await db.pool.query<{ grant: string }>(`
      SELECT table_name || '.' || column_name AS grant
      FROM information_schema.column_privileges
      WHERE grantee = 'prebuildsd_runtime' AND privilege_type = 'UPDATE'
      ORDER BY 1`);
    expect(columns.rows.map((r) => r.grant)).toEqual([
      "prebuild_desired_overrides.desired_instances",
      "prebuild_desired_overrides.set_at",
      "prebuild_failure_resets.reset_at",
      "prebuild_preset_wakeups.due_at",
      "prebuild_reconciler_state.last_full_resync_at",
      "prebuild_rollout_policies.set_at",
      "prebuild_rollout_policies.strategy",
      "provisioner_jobs.cancel_detail",
      "provisioner_jobs.canceled_at",
      "provisioner_jobs.completed_at",
      "provisioner_jobs.error",
      "provisioner_jobs.updated_at",
      "site_configs.value",
      "template_version_presets.last_invalidated_at",
      "template_version_presets.prebuild_status",
      "templates.active_version_id",
      "templates.prebuild_cancel_policy",
      "templates.updated_at",
      "workspaces.deleted",
      "workspaces.deleting_at",
      "workspaces.updated_at",
    ]);

    const client = new pg.Client({ connectionString: login.url });
    await client.connect();
    try {
      for (const sql of [
        "CREATE TABLE intruder (id int)",
        "DROP TABLE workspaces",
        "ALTER TABLE workspaces ADD COLUMN x int",
        "TRUNCATE provisioner_jobs",
        "DELETE FROM workspaces",
        "UPDATE workspaces SET owner_id = gen_random_uuid()",
        "UPDATE provisioner_jobs SET worker_id = gen_random_uuid(), started_at = now()",
        "INSERT INTO users (username) VALUES ('intruder')",
        "SELECT prebuildsd_grant_runtime_privileges()",
        "CREATE ROLE intruder",
      ]) {
        await expect(client.query(sql), sql).rejects.toMatchObject({
          code: expect.stringMatching(/^42501$/),
        });
      }
    } finally {
      await client.end();
    }
  });

  it("runs plan, reconcile --once and promote as that role without a permission error", async () => {
    expect((await run(["plan", "--json"])).code).toBe(0);
    const cycle = await run(["reconcile", "--once"]);
    expect(cycle.code).toBe(0);
    // small (4, one running) and large (3) of v1; the strict preset's create is refused by
    // validation (that is the one expected failure), the flaky one backs off.
    expect(cycle.stdout).toContain("6 prebuild(s) created");
    expect(cycle.stdout).toContain("1 action(s) failed");
    const statuses = await db.pool.query<{ prebuild_status: string }>(
      "SELECT prebuild_status FROM template_version_presets WHERE prebuild_status <> 'healthy' ORDER BY 1",
    );
    expect(statuses.rows.map((r) => r.prebuild_status)).toEqual([
      "hard_limited",
      "validation_failed",
    ]);
    expect((await run(["promote", world.templateId, "v2"])).code).toBe(0);
    // cancel writes canceled_at, completed_at and updated_at (a job of its own organization, removed
    // again so the daemon test below counts only the cycle's cancels).
    const org = await db.pool.query<{ id: string }>(
      "INSERT INTO organizations (name) VALUES ('cancel-org') RETURNING id",
    );
    const job = await db.pool.query<{ id: string }>(
      `INSERT INTO provisioner_jobs (organization_id, initiator_id, type)
       VALUES ($1, gen_random_uuid(), 'workspace_build') RETURNING id`,
      [org.rows[0]?.id],
    );
    const jobId = job.rows[0]?.id as string;
    const canceled = await run(["cancel", "--json", jobId]);
    expect(canceled.code).toBe(0);
    expect(JSON.parse(canceled.stdout)).toEqual({
      results: [{ jobId, result: "canceled_while_pending" }],
    });
    await db.pool.query("DELETE FROM organizations WHERE name = 'cancel-org'");
  });

  it("runs the daemon as that role: cancels, orphan-deletes, deletes and creates with no failure", async () => {
    daemon = startDaemon(["run", "--http-address", "127.0.0.1:0"], {
      ...env,
      PREBUILDS_RECONCILIATION_INTERVAL: "300ms",
      PREBUILDS_METRICS_REFRESH_INTERVAL: "300ms",
    });
    base = await daemonBase(daemon);
    await waitFor("the pool of v2 to be filled and v1 emptied", async () => {
      const pools = await presetPools(db.pool);
      const v1 = pools.filter((p) => p.versionName === "v1");
      const v2 = pools.filter((p) => p.versionName === "v2");
      return (
        v1.every((p) => p.live === 0) && v2.every((p) => p.live === p.desired) && v2.length === 2
      );
    });
    const deleteBuild = await db.pool.query(
      "SELECT 1 FROM workspace_builds WHERE workspace_id = $1 AND transition = 'delete'",
      [v1RunningPrebuild],
    );
    expect(deleteBuild.rowCount).toBe(1);
    const canceled = await db.pool.query(
      "SELECT 1 FROM provisioner_jobs WHERE canceled_at IS NOT NULL AND completed_at IS NOT NULL",
    );
    expect(canceled.rowCount).toBe(6);
    const untouched = await db.pool.query(
      "SELECT 1 FROM workspace_builds WHERE workspace_id = $1",
      [userWorkspaceId],
    );
    expect(untouched.rowCount).toBe(0);
    const metrics = await waitFor("a metrics sample with the v2 presets", async () => {
      const body = (await get(base, "/metrics")).body;
      return body.includes("coderd_prebuilt_workspaces_desired{") ? body : null;
    });
    printed.push(metrics);
    expect(metric(metrics, "prebuildsd_reconciliation_cycle_errors_total")).toBe(0);
    expect(metric(metrics, "prebuildsd_metrics_refresh_errors_total")).toBe(0);
    for (const type of ["create", "delete", "cancel_pending", "backoff"]) {
      expect(metric(metrics, "prebuildsd_actions_total", { type, outcome: "failure" })).toBe(0);
    }
    expect(
      metric(metrics, "prebuildsd_actions_total", { type: "cancel_pending", outcome: "success" }),
    ).toBeGreaterThan(0);
    expect((await get(base, "/readyz")).status).toBe(200);
  });

  it("runs status, pause, resume and invalidate as that role", async () => {
    const paused = await run(["pause"]);
    expect(paused.code).toBe(0);
    const status = await run(["status"]);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain("reconciliation: PAUSED");
    expect(status.stdout).toContain("1 hard_limited, 1 validation_failed");
    expect((await run(["resume"])).code).toBe(0);
    expect((await run(["status", "--json"])).stdout).toContain('"paused": false');
    const invalidated = await run(["invalidate", world.templateId]);
    expect(invalidated.code).toBe(0);
    expect(invalidated.stdout).toContain("invalidated 2 preset(s)");
  });
});

describe("the HTTP port", () => {
  it("serves /, /metrics, /healthz and /readyz and 404s everything else", async () => {
    expect((await raw("GET", "/")).status).toBe(200);
    expect((await raw("GET", "/?x=<script>")).status).toBe(200);
    // Sent verbatim (fetch would normalise "/metrics/../healthz" before sending it).
    for (const path of [
      "//",
      "/index.html",
      "/metrics/",
      "//metrics",
      "/METRICS",
      "/metrics/../healthz",
      "/%2e%2e/healthz",
      "/debug/pprof",
      "/.env",
      "/status",
      "/api/v2/workspaces",
      "*",
    ]) {
      expect((await raw("GET", path)).status, path).toBe(404);
    }
    expect((await raw("GET", "/healthz?verbose=1")).status).toBe(200);
    expect((await raw("POST", "/metrics", Buffer.alloc(1000, "x"))).status).toBe(405);
    expect((await raw("DELETE", "/readyz")).status).toBe(405);
    expect((await raw("POST", "/")).status).toBe(405);
    expect((await raw("OPTIONS", "/healthz")).status).toBe(405);
  });

  it("ignores a request body, even a large one on a GET", async () => {
    expect(await raw("GET", "/healthz", Buffer.alloc(1_000_000, "y"))).toEqual({
      status: 200,
      body: "ok\n",
    });
  });

  it("survives a burst of 10,000 requests from a local client", async () => {
    // What a misconfigured load balancer or scraper sends: mostly probes, some scrapes, some junk.
    const paths = [
      "/healthz",
      "/readyz",
      "/healthz",
      "/nope",
      "/healthz",
      "/readyz",
      "/healthz",
      "/nope",
      "/healthz",
      "/metrics",
    ] as const;
    const expected: Record<(typeof paths)[number], number> = {
      "/healthz": 200,
      "/readyz": 200,
      "/metrics": 200,
      "/nope": 404,
    };
    const total = 10_000;
    const concurrency = 64;
    let next = 0;
    const wrong: string[] = [];
    const worker = async () => {
      while (next < total) {
        const path = paths[next++ % paths.length] as (typeof paths)[number];
        const response = await fetch(`${base}${path}`);
        await response.arrayBuffer();
        if (response.status !== expected[path]) wrong.push(`${path} → ${response.status}`);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    expect(wrong).toEqual([]);
    // Still serving, still reconciling.
    expect(await get(base, "/healthz")).toEqual({ status: 200, body: "ok\n" });
    const cycles = metric(
      (await get(base, "/metrics")).body,
      "prebuildsd_reconciliation_cycles_total",
      { outcome: "completed" },
    );
    await waitFor("another completed cycle after the burst", async () => {
      const body = (await get(base, "/metrics")).body;
      return metric(body, "prebuildsd_reconciliation_cycles_total", { outcome: "completed" }) >
        cycles
        ? true
        : null;
    });
  });
});

describe("secrets", () => {
  it("stops on SIGTERM with exit code 0", async () => {
    daemon?.child.kill("SIGTERM");
    expect(await exitWithin(daemon as Daemon, 15_000)).toBe(0);
    printed.push(daemon?.output() ?? "");
  });

  it("prints no password or DATABASE_URL on errors either", async () => {
    // A database that does not exist and a port nobody listens on: the errors name the problem,
    // never the password.
    const missing = new URL(login.url);
    missing.pathname = "/no_such_database_here";
    const refused = new URL(login.url);
    refused.port = "1";
    for (const url of [missing, refused]) {
      const result = await run(["status"], { DATABASE_URL: url.toString() });
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/^prebuildsd: /);
    }
    const bad = await run(["status"], { DATABASE_URL: `mysql://u:${login.password}@h/db` });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("DATABASE_URL must be");
    const flag = await run(["status", "--database-url", `nope://u:${login.password}@h/db`]);
    expect(flag.code).toBe(2);
  });

  it("never shows the password or the URL in anything printed or served", () => {
    const everything = printed.join("\n");
    expect(everything.length).toBeGreaterThan(10_000);
    for (const secret of [
      login.password,
      encodeURIComponent(login.password),
      login.url,
      new URL(login.url).password,
    ]) {
      expect(everything).not.toContain(secret);
    }
    expect(everything).not.toMatch(/permission denied/i);
  });
});

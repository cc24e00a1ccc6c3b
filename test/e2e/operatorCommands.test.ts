// The one-shot commands as an operator runs them, against a fresh database: the built binary,
// real PostgreSQL, exit codes and output.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DemoWorld, seedDemo } from "../../src/demo/seedDemo.ts";
import { emptyDatabase, freshDatabase, type TestDatabase } from "../harness/freshDatabase.ts";
import { cli } from "./cli.ts";

let db: TestDatabase;
let world: DemoWorld;
let env: Record<string, string>;

async function count(table: string): Promise<number> {
  const result = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
  return result.rows[0]?.n ?? -1;
}

beforeAll(async () => {
  db = await freshDatabase();
  world = await seedDemo(db.pool);
  // Antagonists: a user's own workspace template in another organization, with a preset that wants
  // no prebuilds; nothing the commands do may touch it.
  await db.pool.query(`
    WITH org AS (INSERT INTO organizations (name) VALUES ('other-org') RETURNING id),
         tpl AS (INSERT INTO templates (organization_id, name, active_version_id)
                 SELECT id, 'dev-environment', gen_random_uuid() FROM org RETURNING id, organization_id, active_version_id),
         ver AS (INSERT INTO template_versions (id, template_id, organization_id, name)
                 SELECT active_version_id, id, organization_id, 'v1' FROM tpl RETURNING id)
    INSERT INTO template_version_presets (template_version_id, name, desired_instances)
    SELECT id, 'manual', NULL FROM ver`);
  env = { DATABASE_URL: db.url, PREBUILDS_LOG_LEVEL: "warn" };
});

afterAll(async () => {
  await db?.drop();
});

describe("prebuildsd (built binary)", () => {
  it("lists every command in --help", async () => {
    const result = await cli(["--help"], {});
    expect(result.code).toBe(0);
    for (const command of [
      "run",
      "migrate",
      "reconcile",
      "plan",
      "status",
      "pause",
      "resume",
      "promote",
      "invalidate",
      "cancel-policy",
      "demo",
    ]) {
      expect(result.stdout).toContain(`  ${command}`);
    }
  });

  it("exits 2 with one line naming a bad setting, from the environment or a flag", async () => {
    const fromEnv = await cli(["run"], { ...env, PREBUILDS_RECONCILIATION_INTERVAL: "-5" });
    expect(fromEnv.code).toBe(2);
    expect(fromEnv.stderr).toBe(
      'prebuildsd: PREBUILDS_RECONCILIATION_INTERVAL must be a positive duration like "30s" (got "-5")\n',
    );
    expect(fromEnv.stdout).toBe("");
    const fromFlag = await cli(["reconcile", "--once", "--failure-hard-limit", "lots"], env);
    expect(fromFlag.code).toBe(2);
    expect(fromFlag.stderr.trim().split("\n")).toEqual([
      'prebuildsd: --failure-hard-limit must be a whole number from 0 (disables the limit) to 1000000 (got "lots")',
    ]);
  });

  it("migrate applies every migration to an empty database, then finds it current", async () => {
    const empty = await emptyDatabase();
    try {
      const first = await cli(["migrate"], { DATABASE_URL: empty.url });
      expect(first.code).toBe(0);
      expect(first.stdout).toMatch(/^applied \d+ migration\(s\):\n {2}0001_schema\n/);
      const second = await cli(["migrate"], { DATABASE_URL: empty.url });
      expect(second).toMatchObject({
        code: 0,
        stdout: "the schema is current: no migration to apply\n",
      });
    } finally {
      await empty.drop();
    }
  });

  it("plan --json prints every preset in the documented shape and writes nothing", async () => {
    const before = [await count("workspaces"), await count("provisioner_jobs")];
    const result = await cli(["plan", "--json"], env);
    expect(result.code).toBe(0);
    const plan = JSON.parse(result.stdout) as { presets: Record<string, unknown>[] };
    // Indented like every other --json output (status, reconcile, cancel).
    expect(result.stdout).toBe(`${JSON.stringify(plan, null, 2)}\n`);
    expect(plan.presets).toHaveLength(4);
    const small = plan.presets.find((p) => p.presetName === "small" && p.active === true);
    expect(small).toEqual({
      presetId: expect.any(String),
      presetName: "small",
      templateId: world.templateId,
      templateName: "dev-environment",
      templateVersionId: world.versions[0]?.id,
      templateVersionName: "v1",
      organizationId: world.organizationId,
      organizationName: world.organizationName,
      active: true,
      cancelPolicy: "pending",
      paused: false,
      pauseReason: null,
      desiredOverride: null,
      state: {
        desired: 4,
        actual: 0,
        eligible: 0,
        expired: 0,
        extraneous: 0,
        starting: 0,
        stopping: 0,
        deleting: 0,
      },
      staleFirstBuilds: { pending: 0, running: 0 },
      actions: [{ type: "create", count: 4, reason: expect.stringContaining("create 4") }],
      capped: null,
      warnings: [],
      missingParameters: [],
    });
    const inactive = plan.presets.filter((p) => p.active === false);
    expect(inactive).toHaveLength(2);
    for (const p of inactive) expect(p.actions).toEqual([]);
    expect([await count("workspaces"), await count("provisioner_jobs")]).toEqual(before);
  });

  it("reconcile --once carries the plan out, prints a summary and exits 0", async () => {
    const result = await cli(["reconcile", "--once"], env);
    expect(result.code).toBe(0);
    // The old version's presets have nothing running or pending: the cycle does not even read them.
    // The fleet is what `plan` lists: 4 presets (v1 and v2, two each).
    expect(result.stdout).toMatch(
      /^cycle completed in [\d.]+s: 2 preset\(s\) visited \(full resync: a change that concerns every preset; 4 in the fleet\), \d+ SQL statements\n/,
    );
    expect(result.stdout).toMatch(/ {2}create +2 +0 +0\n/);
    expect(result.stdout).toContain("7 prebuild(s) created");
    expect(await count("workspaces")).toBe(7);
    // The next plan counts them as starting and creates nothing more.
    const plan = JSON.parse((await cli(["plan", "--json"], env)).stdout) as {
      presets: { actions: unknown[]; state: { starting: number } }[];
    };
    expect(plan.presets.flatMap((p) => p.actions)).toEqual([]);
    expect(plan.presets.reduce((n, p) => n + p.state.starting, 0)).toBe(7);
    // The first cycle read everything (the migration asked for a full resync); the next reads
    // only what the creates marked; --full reads everything again (issue #16).
    const nextOut = (await cli(["reconcile", "--once", "--json"], env)).stdout;
    const next = JSON.parse(nextOut);
    expect(nextOut).toBe(`${JSON.stringify(next, null, 2)}\n`);
    expect(next).toMatchObject({
      outcome: "completed",
      kind: "incremental",
      presetsMarked: 2,
      presetsTotal: 2,
      presetsInFleet: 4,
    });
    // `status` words the last cycle the same way, with the same fleet `plan` lists.
    const status = await cli(["status"], env);
    expect(status.stdout).toMatch(/last cycle: +completed \(incremental\)/);
    expect(status.stdout).toContain("2 preset(s) visited (incremental; 4 in the fleet); actions:");
    expect(JSON.parse((await cli(["status", "--json"], env)).stdout).presetsInFleet).toBe(4);
    const full = JSON.parse((await cli(["reconcile", "--once", "--full", "--json"], env)).stdout);
    expect(full).toMatchObject({
      kind: "full",
      fullResyncReason: "requested",
      prebuildsCreated: 0,
    });
  });

  it("after pause, a cycle creates and cancels nothing; status says paused; resume undoes it", async () => {
    expect((await cli(["pause"], env)).code).toBe(0);
    const promoted = await cli(["promote", "dev-environment", "v2"], env);
    // The template name exists in two organizations: the operator is asked for
    // organization/template (as `status` prints it) or the id.
    expect(promoted.code).toBe(2);
    expect(promoted.stderr).toContain(
      `(demo-org/dev-environment: ${world.templateId}, other-org/dev-environment: `,
    );
    expect(promoted.stderr).toContain("pass organization/template or the template id");
    const promotedById = (await cli(["promote", "demo-org/dev-environment", "v2"], env)).stdout;
    expect(promotedById).toContain('promoted template "dev-environment" version "v2"');
    // It does not promise cancels a "retain" policy would not make (issue #13).
    expect(promotedById).toContain("the template's cancel policy (`prebuildsd status`)");
    const workspacesBefore = await count("workspaces");
    const cycle = await cli(["reconcile", "--once"], env);
    expect(cycle.code).toBe(0);
    expect(cycle.stdout).toContain("reconciliation is paused: this cycle did nothing");
    expect(await count("workspaces")).toBe(workspacesBefore);
    const canceled = await db.pool.query(
      "SELECT 1 FROM provisioner_jobs WHERE canceled_at IS NOT NULL",
    );
    expect(canceled.rowCount).toBe(0);
    const status = await cli(["status"], env);
    expect(status.stdout).toContain("reconciliation: PAUSED");
    expect(status.stdout).toContain("last cycle:   paused");
    expect((await cli(["resume"], env)).code).toBe(0);
    const statusOut = (await cli(["status", "--json"], env)).stdout;
    expect(statusOut).toBe(`${JSON.stringify(JSON.parse(statusOut), null, 2)}\n`);
    expect(statusOut).toContain('"paused": false');
  });

  it("invalidate lists the active version's presets it expired", async () => {
    const result = await cli(["invalidate", world.templateId], env);
    expect(result).toMatchObject({ code: 0 });
    expect(result.stdout).toContain("invalidated 2 preset(s)");
    const rows = await db.pool.query<{ name: string }>(
      "SELECT name FROM template_version_presets WHERE last_invalidated_at IS NOT NULL ORDER BY name",
    );
    expect(rows.rows.map((r) => r.name)).toEqual(["large", "small"]);
  });

  it("cancel-policy sets the template's policy; plan and status show it, and the plan follows it", async () => {
    type Plan = {
      presets: {
        templateId: string;
        active: boolean;
        cancelPolicy: string;
        staleFirstBuilds: { pending: number; running: number };
        actions: { type: string; policy?: string; reason: string }[];
      }[];
    };
    const plan = async (): Promise<Plan> =>
      JSON.parse((await cli(["plan", "--json"], env)).stdout) as Plan;
    const ours = (p: Plan) => p.presets.filter((x) => x.templateId === world.templateId);
    // v1's presets still have the pending jobs the earlier cycle queued (no provisioner ran).
    const before = ours(await plan()).filter((p) => !p.active);
    expect(before.flatMap((p) => p.actions.map((a) => [a.type, a.policy]))).toContainEqual([
      "cancel_pending",
      "pending",
    ]);
    const set = await cli(["cancel-policy", world.templateId, "retain"], env);
    expect(set).toMatchObject({ code: 0, stderr: "" });
    expect(set.stdout).toBe(
      'template "dev-environment": cancel policy retain (was pending): stale versions\' prebuild jobs are never canceled; they finish and are then deleted\n',
    );
    const retained = ours(await plan());
    for (const p of retained) expect(p.cancelPolicy).toBe("retain");
    expect(retained.flatMap((p) => p.actions.filter((a) => a.type === "cancel_pending"))).toEqual(
      [],
    );
    const retainedText = (await cli(["plan"], env)).stdout;
    expect(retainedText).toMatch(/CANCEL POLICY {2}CONTROLS\n(.*\n)*.*dev-environment .* retain\n/);
    // The old version's queued first builds are still counted as starting, and said to be left
    // to finish, though no action touches them.
    for (const p of retained.filter((x) => !x.active))
      expect(p.staleFirstBuilds.pending).toBeGreaterThan(0);
    // …and the table's STARTING column counts them (the row's ninth column).
    const oldRows = retainedText
      .split("\n")
      .filter((l) => /^dev-environment +v1 +\S+ +no /.test(l));
    expect(oldRows.length).toBeGreaterThan(0);
    for (const row of oldRows) expect(Number(row.split(/ +/)[8])).toBeGreaterThan(0);
    expect(retainedText).toMatch(
      /\n {4}· \d+ pending first builds? left to finish \(cancel policy "retain"\)\n/,
    );
    // Both organizations have a "dev-environment": status names each as organization/template.
    const other = await cli(["cancel-policy", "other-org/dev-environment", "running"], env);
    expect(other).toMatchObject({ code: 0, stderr: "" });
    expect((await cli(["status"], env)).stdout).toContain(
      "cancel policy: demo-org/dev-environment retain, other-org/dev-environment running; pending for the others",
    );
    const statusJson = JSON.parse((await cli(["status", "--json"], env)).stdout);
    expect(statusJson.cancelPolicies).toEqual([
      { organization: "demo-org", template: "dev-environment", policy: "retain" },
      { organization: "other-org", template: "dev-environment", policy: "running" },
    ]);
    expect((await cli(["cancel-policy", world.templateId, "pending"], env)).code).toBe(0);
    const again = ours(await plan()).flatMap((p) => p.actions);
    expect(again.filter((a) => a.type === "cancel_pending").length).toBeGreaterThan(0);
    for (const a of again.filter((x) => x.type === "cancel_pending")) {
      expect(a.reason).toContain('(cancel policy "pending")');
    }
  });
});

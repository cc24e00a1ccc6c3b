// Admission control against real PostgreSQL (issue #13): PREBUILDS_MAX_INFLIGHT_JOBS with several
// presets at different fill ratios (antagonists: another template's jobs in flight, a person's
// job), the plan's "create 3 of 10 (capped: …)", and the cap re-checked at write time under its
// lock (a stale plan, two writers at once).
import { Writable } from "node:stream";
import type pg from "pg";
import { describe, expect, it } from "vitest";
import { summarizeCycle } from "../../../src/cli/commands/cycleSummary.ts";
import { planTable } from "../../../src/cli/commands/planOutput.ts";
import { describeCycle } from "../../../src/cli/commands/reconcile.ts";
import { describeStatus, readStatus } from "../../../src/cli/commands/status.ts";
import { createLogger } from "../../../src/observe/logger.ts";
import { planNextCycle } from "../../../src/reconciler/planNextCycle.ts";
import { reconcileOnce } from "../../../src/reconciler/reconcileOnce.ts";
import { createdFor, type Seed, type TemplateIds, workspacesOf } from "./fixtures.ts";
import {
  databasePerTest,
  executePlanned,
  makeDeps,
  planFor,
  runCycles,
} from "./reconcilerHarness.ts";

const fresh = databasePerTest();
const NOW = new Date(Math.floor(Date.now() / 1000) * 1000);

async function inflight(pool: pg.Pool): Promise<number> {
  const r = await pool.query(
    `SELECT count(*)::int AS n FROM provisioner_jobs
     WHERE job_status IN ('pending', 'running', 'canceling')
       AND initiator_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'`,
  );
  return r.rows[0].n;
}

/** Another template whose active preset already has `n` prebuild jobs pending (its pool is
 *  starting: nothing more to create), and a person's pending job beside them. */
async function busyTemplate(seed: Seed, n: number): Promise<TemplateIds> {
  const t = await seed.template();
  const preset = await seed.preset(t.versionId, { desired: n });
  for (let i = 0; i < n; i++) {
    await seed.prebuild(t, { versionId: t.versionId, presetId: preset, job: "pending" });
  }
  const person = await seed.user();
  const own = await seed.workspace(t, { ownerId: person });
  await seed.build(t, {
    workspaceId: own,
    versionId: t.versionId,
    buildNumber: 1,
    transition: "start",
    job: "pending",
    initiatorId: person,
  });
  return t;
}

describe("PREBUILDS_MAX_INFLIGHT_JOBS", () => {
  it("fills the emptiest pools first across presets at different fill ratios, and never passes the cap", async () => {
    const { db, seed } = await fresh();
    const busy = await busyTemplate(seed, 6);
    const t = await seed.template();
    const big = await seed.preset(t.versionId, { desired: 50, name: "big" });
    const small = await seed.preset(t.versionId, { desired: 2, name: "small" });
    const half = await seed.preset(t.versionId, { desired: 4, name: "half" });
    for (let i = 0; i < 2; i++) await seed.prebuild(t, { versionId: t.versionId, presetId: half });
    // 6 in flight (the busy template's), cap 12: 6 creates this cycle.
    const options = { planAt: () => NOW, maxInflightJobs: 12 };
    await runCycles(makeDeps(db.pool, { options }), 1);
    const ws = await workspacesOf(db.pool, t.templateId);
    const counts = {
      big: createdFor(ws, big).length,
      small: createdFor(ws, small).length,
      half: createdFor(ws, half, new Set(ws.slice(0, 2).map((w) => w.id))).length,
    };
    // Fill ratios 0/50, 0/2, 2/4: small gets 1 (→ 0.5), then big, the emptiest, the other 5.
    expect(counts).toEqual({ big: 5, small: 1, half: 0 });
    expect(await inflight(db.pool)).toBe(12);
    // At the cap: the next cycles create nothing more, and the busy template is untouched.
    await runCycles(makeDeps(db.pool, { options }), 2);
    expect(await inflight(db.pool)).toBe(12);
    expect((await workspacesOf(db.pool, busy.templateId)).map((w) => w.builds.length)).toEqual([
      1, 1, 1, 1, 1, 1, 1,
    ]);
    // Jobs finish: room again, and creates resume, still emptiest first.
    await seed.sql(
      `UPDATE provisioner_jobs SET started_at = now(), completed_at = now(), worker_id = gen_random_uuid()
       WHERE id IN (SELECT wb.job_id FROM workspace_builds wb JOIN workspaces w ON w.id = wb.workspace_id
                    WHERE w.template_id = $1)`,
      [busy.templateId],
    );
    await runCycles(makeDeps(db.pool, { options }), 1);
    expect(await inflight(db.pool)).toBe(12);
  });

  it('plan shows "create 3 of 10 (capped: 7 of 10 jobs in flight)"', async () => {
    const { db, seed } = await fresh();
    await busyTemplate(seed, 7);
    const t = await seed.template();
    const preset = await seed.preset(t.versionId, { desired: 10, name: "wide" });
    const preview = await planNextCycle({ pool: db.pool, options: { maxInflightJobs: 10 } });
    const planned = preview.presets.find((p) => p.preset.presetId === preset);
    expect(planned?.plan.capped).toEqual({
      wanted: 10,
      granted: 3,
      inflight: 7,
      cap: 10,
      deletesFirst: 0,
    });
    expect(planTable(preview)).toContain("→ create 3 of 10 (capped: 7 of 10 jobs in flight): ");
    const uncapped = await planNextCycle({ pool: db.pool });
    expect(uncapped.presets.find((p) => p.preset.presetId === preset)?.plan.capped).toBeUndefined();
  });

  it("re-checks the cap at write time: a stale plan creates only what still fits, or nothing", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template();
    const preset = await seed.preset(t.versionId, { desired: 5 });
    const planned = await planFor(db.pool, preset, 5);
    expect(planned.plan.actions).toMatchObject([{ _tag: "Create", count: 5 }]);
    // Another writer queued 3 jobs since the snapshot.
    await busyTemplate(seed, 3);
    const [first] = await executePlanned(db.pool, planned, { maxInflightJobs: 5 });
    expect(first?.effects.created).toBe(2);
    expect(first?.detail).toBe(
      "created 2 of 5: 3 of 5 prebuild jobs in flight at write time (PREBUILDS_MAX_INFLIGHT_JOBS)",
    );
    const [second] = await executePlanned(db.pool, planned, { maxInflightJobs: 5 });
    expect(second?.outcome).toBe("skipped");
    expect(second?.detail).toBe(
      "created 0 of 5: 5 of 5 prebuild jobs in flight at write time (PREBUILDS_MAX_INFLIGHT_JOBS)",
    );
    expect(await inflight(db.pool)).toBe(5);
  });

  it("two writers at once never take the queue past the cap", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template();
    const presets = [
      await seed.preset(t.versionId, { desired: 5, name: "a" }),
      await seed.preset(t.versionId, { desired: 5, name: "b" }),
      await seed.preset(t.versionId, { desired: 5, name: "c" }),
    ];
    const plans = await Promise.all(presets.map((p) => planFor(db.pool, p, null)));
    const events = await Promise.all(
      plans.map((p) => executePlanned(db.pool, p, { maxInflightJobs: 7 })),
    );
    expect(events.flat().reduce((n, e) => n + e.effects.created, 0)).toBe(7);
    expect(await inflight(db.pool)).toBe(7);
  });

  it("a cycle the cap held back entirely says so: an info log line, the summary, the recorded run and status", async () => {
    const { db, seed } = await fresh();
    await busyTemplate(seed, 7);
    const t = await seed.template();
    await seed.preset(t.versionId, { desired: 3 });
    const lines: Record<string, unknown>[] = [];
    const destination = new Writable({
      write(chunk, _encoding, done) {
        for (const line of String(chunk).split("\n")) if (line) lines.push(JSON.parse(line));
        done();
      },
    });
    const logger = createLogger({ level: "info", format: "json", destination });
    const report = await reconcileOnce(
      makeDeps(db.pool, { logger, options: { maxInflightJobs: 7, recordRuns: true } }),
    );
    const said = "3 creates held back by the in-flight cap (7 of 7 jobs in flight)";
    expect(report.effects.created).toBe(0);
    expect(report.heldBack).toEqual({ creates: 3, presets: 1, inflight: 7, cap: 7 });
    // Nothing acted, yet the cycle is logged at info, with the count.
    const logged = lines.find((l) => String(l.msg).startsWith("reconciliation cycle completed"));
    expect(logged).toMatchObject({
      level: 30,
      msg: `reconciliation cycle completed; ${said}`,
      createsHeldBack: 3,
      inflightJobs: 7,
      inflightCap: 7,
    });
    expect(describeCycle(report)).toContain(
      `  0 prebuild(s) created, 0 deleted, 0 job(s) cancelled; ${said}`,
    );
    expect(summarizeCycle(report)).toMatchObject({
      createsHeldBack: 3,
      inflightJobs: 7,
      inflightCap: 7,
    });
    const status = await readStatus(db.pool);
    expect(status.lastCycle).toMatchObject({ createsHeldBack: 3, inflightJobs: 7, inflightCap: 7 });
    expect(describeStatus(status)).toContain(`0 job(s) cancelled; ${said}`);
  });
});

// One clock (issue #11): every timestamp prebuildsd writes is the database's now(), the cycle plans
// at the database's clock read in its snapshot, and a stored time later than that clock is read as
// the clock with an error naming the row. Also what the snapshot counts: the controller's own
// deletes (every build records its preset) and nothing twice for a template whose active version
// belongs to another template.
import type pg from "pg";
import { describe, expect, it } from "vitest";
import { invalidate } from "../../../src/controls/invalidate.ts";
import { planNextCycle } from "../../../src/reconciler/planNextCycle.ts";
import { createdFor, PREBUILDS, workspacesOf } from "./fixtures.ts";
import { databasePerTest, makeDeps, runCycles, runCyclesSettled } from "./reconcilerHarness.ts";

const fresh = databasePerTest();
const MINUTE = 60_000;
const YEAR = 365 * 24 * 60 * MINUTE;

async function databaseNow(pool: pg.Pool): Promise<Date> {
  return (await pool.query("SELECT clock_timestamp() AS now")).rows[0].now;
}

async function pendingJobIds(pool: pg.Pool, templateId: string): Promise<string[]> {
  const r = await pool.query(
    `SELECT pj.id FROM provisioner_jobs pj JOIN workspace_builds wb ON wb.job_id = pj.id
     JOIN workspaces w ON w.id = wb.workspace_id
     WHERE w.template_id = $1 AND pj.job_status = 'pending'`,
    [templateId],
  );
  return r.rows.map((row) => row.id);
}

describe("one clock", () => {
  it("a last_invalidated_at ahead of the database's clock recycles the pool once, then it is stable", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template();
    const preset = await seed.preset(t.versionId, { desired: 2, name: "ahead" });
    const old = [];
    for (let i = 0; i < 2; i++) {
      old.push(await seed.prebuild(t, { versionId: t.versionId, presetId: preset }));
    }
    // `invalidate` run on a host whose clock is 10 minutes ahead (before the fix).
    await seed.sql(
      "UPDATE template_version_presets SET last_invalidated_at = now() + interval '10 minutes' WHERE id = $1",
      [preset],
    );
    const deps = makeDeps(db.pool);
    const [first] = await runCycles(deps, 1);
    expect(first?.effects).toMatchObject({ deleted: 2, created: 2 });
    expect(
      first?.warnings.some(
        (w) => w.includes(`preset "ahead" (${preset})`) && w.includes("last_invalidated_at"),
      ),
    ).toBe(true);
    await seed.finishJobs(await pendingJobIds(db.pool, t.templateId), "succeeded");
    // The create resolved the future stamp to its own now(): nothing is expired any more.
    const stamp = await db.pool.query(
      "SELECT last_invalidated_at <= now() AS resolved FROM template_version_presets WHERE id = $1",
      [preset],
    );
    expect(stamp.rows[0].resolved).toBe(true);
    const later = await runCyclesSettled(deps, 6);
    for (const r of later) {
      expect(r.effects).toMatchObject({ deleted: 0, created: 0 });
      expect(r.warnings).toEqual([]);
    }
    const seeded = new Set(old.map((o) => o.workspaceId));
    expect(createdFor(await workspacesOf(db.pool, t.templateId), preset, seeded)).toHaveLength(2);
  });

  it("a daemon whose clock jumped a year ahead still stamps and plans by the database's clock", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template();
    await seed.preset(t.versionId, { desired: 2, ttlSeconds: 3600 });
    const wrong = makeDeps(db.pool, { options: { now: () => new Date(Date.now() + YEAR) } });
    const from = await databaseNow(db.pool);
    const [first] = await runCycles(wrong, 1);
    const to = await databaseNow(db.pool);
    expect(first?.effects.created).toBe(2);
    const stamps = await db.pool.query(
      `SELECT w.created_at AS w, wb.created_at AS b, pj.created_at AS j
       FROM workspaces w JOIN workspace_builds wb ON wb.workspace_id = w.id
       JOIN provisioner_jobs pj ON pj.id = wb.job_id WHERE w.template_id = $1`,
      [t.templateId],
    );
    expect(stamps.rows).toHaveLength(2);
    for (const row of stamps.rows) {
      for (const at of [row.w, row.b, row.j] as Date[]) {
        expect(at.getTime()).toBeGreaterThanOrEqual(from.getTime());
        expect(at.getTime()).toBeLessThanOrEqual(to.getTime());
      }
    }
    await seed.finishJobs(await pendingJobIds(db.pool, t.templateId), "succeeded");
    // Planned at the database's clock: a year on the process's clock expires nothing.
    await runCyclesSettled(wrong, 4);
    await runCyclesSettled(makeDeps(db.pool), 4);
    const ws = await workspacesOf(db.pool, t.templateId);
    expect(ws.map((w) => w.builds.length)).toEqual([1, 1]);
  });

  it("reads a created_at ahead of the database's clock as the clock, with an error naming the prebuild", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template();
    const preset = await seed.preset(t.versionId, { desired: 1, ttlSeconds: 3600 });
    const p = await seed.prebuild(t, {
      versionId: t.versionId,
      presetId: preset,
      createdAt: new Date(Date.now() + YEAR),
    });
    const preview = await planNextCycle({ pool: db.pool });
    // The workspace's created_at (its build's, as old, is only ranked: it backs nothing off).
    expect(
      preview.problems.filter((s) => s.includes(p.workspaceId) && s.includes("created_at")),
    ).toHaveLength(1);
    const planned = preview.presets.find((x) => x.preset.presetId === preset);
    expect(planned?.snapshot.running.map((r) => r.createdAt.getTime())).toEqual([
      preview.at.getTime(),
    ]);
    expect(planned?.plan.actions).toEqual([]);
  });

  it("a failed build dated ahead of the database's clock backs off from the clock, not from that date", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template();
    const preset = await seed.preset(t.versionId, { desired: 1 });
    await seed.prebuild(t, {
      versionId: t.versionId,
      presetId: preset,
      job: "failed",
      createdAt: new Date(Date.now() + YEAR),
    });
    const preview = await planNextCycle({ pool: db.pool });
    const planned = preview.presets.find((x) => x.preset.presetId === preset);
    expect(planned?.snapshot.backoff?.lastBuildAt).toEqual(preview.at);
    expect(preview.problems).toContainEqual(
      expect.stringContaining(`the latest failed build of preset ${preset}: created_at`),
    );
  });

  it("`invalidate` stamps last_invalidated_at with the database's clock", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template({ name: "clocked" });
    const preset = await seed.preset(t.versionId, { desired: 1 });
    const from = await databaseNow(db.pool);
    await invalidate(db.pool, "clocked");
    const to = await databaseNow(db.pool);
    const r = await db.pool.query(
      "SELECT last_invalidated_at AS at FROM template_version_presets WHERE id = $1",
      [preset],
    );
    expect(r.rows[0].at.getTime()).toBeGreaterThanOrEqual(from.getTime());
    expect(r.rows[0].at.getTime()).toBeLessThanOrEqual(to.getTime());
  });
});

describe("what the snapshot counts", () => {
  it("counts the controller's own delete builds as deleting (every build records its preset)", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template();
    const preset = await seed.preset(t.versionId, { desired: 1 });
    for (let i = 0; i < 3; i++) {
      await seed.prebuild(t, {
        versionId: t.versionId,
        presetId: preset,
        createdAt: new Date(Date.now() - (10 - i) * MINUTE),
      });
    }
    const [cycle] = await runCycles(makeDeps(db.pool), 1);
    expect(cycle?.effects.deleted).toBe(2);
    const deletes = await db.pool.query(
      "SELECT template_version_preset_id AS preset, initiator_id FROM workspace_builds WHERE transition = 'delete'",
    );
    expect(deletes.rows).toEqual([
      { preset, initiator_id: PREBUILDS },
      { preset, initiator_id: PREBUILDS },
    ]);
    const planned = (await planNextCycle({ pool: db.pool })).presets.find(
      (p) => p.preset.presetId === preset,
    );
    expect(planned?.plan.state).toMatchObject({ actual: 1, deleting: 2 });
    expect(planned?.plan.actions).toEqual([]);
  });

  it("a template whose active version belongs to another template is reported, and nothing is counted twice", async () => {
    const { db, seed } = await fresh();
    const a = await seed.template({ name: "owner" });
    const preset = await seed.preset(a.versionId, { desired: 6 });
    for (let i = 0; i < 4; i++) {
      await seed.prebuild(a, { versionId: a.versionId, presetId: preset, job: "pending" });
    }
    const b = await seed.template({ organizationId: a.organizationId, name: "borrower" });
    const bPreset = await seed.preset(b.versionId, { desired: 1 });
    await seed.prebuild(b, { versionId: b.versionId, presetId: bPreset });
    await seed.sql("UPDATE templates SET active_version_id = $2 WHERE id = $1", [
      b.templateId,
      a.versionId,
    ]);
    const preview = await planNextCycle({ pool: db.pool });
    const planned = preview.presets.find((p) => p.preset.presetId === preset);
    expect(planned?.plan.state).toMatchObject({ desired: 6, starting: 4 });
    expect(planned?.plan.actions).toMatchObject([{ _tag: "Create", count: 2 }]);
    expect(
      preview.problems.filter(
        (s) =>
          s.includes(`template "borrower" (${b.templateId})`) &&
          s.includes(`a version of another template, owner (${a.templateId})`),
      ),
    ).toHaveLength(1);
    // The cycle logs it as an error (in its warnings) and creates only the 2 missing; the
    // borrower's presets are inactive, so its prebuild is deleted.
    const [cycle] = await runCycles(makeDeps(db.pool), 1);
    expect(cycle?.effects).toMatchObject({ created: 2, deleted: 1 });
    expect(cycle?.warnings.some((w) => w.includes('template "borrower"'))).toBe(true);
  });
});

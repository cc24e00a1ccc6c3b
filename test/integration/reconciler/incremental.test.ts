// Incremental cycles (issue #16): a cycle reads only the presets marked dirty or due, widened to
// their surge rollout partners; full resyncs come when asked, when due, after a failure, after gaining the lock
// and on a NULL mark; the bookkeeping keeps marks committed meanwhile and re-marks failed presets.
import { describe, expect, it } from "vitest";
import { newCycleMemory } from "../../../src/reconciler/cycleKind.ts";
import { reconcileOnce } from "../../../src/reconciler/reconcileOnce.ts";
import type { CycleReport } from "../../../src/reconciler/report.ts";
import { lastReconciliationRun } from "../../../src/reconciler/runs.ts";
import { createdFor, PREBUILDS, type Seed, workspacesOf } from "./fixtures.ts";
import { databasePerTest, makeDeps } from "./reconcilerHarness.ts";

const fresh = databasePerTest();
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** The presets each cycle planned, in cycle order. */
function plannedLog(): {
  readonly cycles: string[][];
  readonly onPlanned: (p: readonly { preset: { presetId: string } }[]) => void;
} {
  const cycles: string[][] = [];
  return {
    cycles,
    onPlanned: (planned) => cycles.push(planned.map((p) => p.preset.presetId).sort()),
  };
}

async function marks(seed: Seed): Promise<string[]> {
  const r = await seed.sql(
    "SELECT DISTINCT coalesce(preset_id::text, '*') AS p FROM prebuild_marked_presets ORDER BY 1",
  );
  return r.rows.map((x: { p: string }) => x.p);
}

async function pendingJobs(seed: Seed, presetId: string): Promise<string[]> {
  const r = await seed.sql(
    `SELECT pj.id FROM provisioner_jobs pj JOIN workspace_builds wb ON wb.job_id = pj.id
     WHERE wb.template_version_preset_id = $1 AND wb.initiator_id = $2 AND pj.job_status = 'pending'`,
    [presetId, PREBUILDS],
  );
  return r.rows.map((x: { id: string }) => x.id);
}

describe("incremental cycles", () => {
  it("read nothing when nothing changed, then only the changed presets: active ones, and old versions with something left", async () => {
    const { db, seed } = await fresh();
    const a = await seed.template({ name: "a" });
    const aOld = await seed.preset(a.versionId, { desired: 1, name: "a-old" });
    const aNew = await seed.version(a, { activate: true });
    const aActive = await seed.preset(aNew, { desired: 1, name: "a-active" });
    const aSibling = await seed.preset(aNew, { desired: 1, name: "a-sibling" });
    const aNoPrebuilds = await seed.preset(aNew, { desired: null, name: "a-none" });
    const b = await seed.template({ name: "b" });
    const bActive = await seed.preset(b.versionId, { desired: 1, name: "b-active" });
    const log = plannedLog();
    const deps = makeDeps(db.pool, { observer: { onPlanned: log.onPlanned } });
    const first = await reconcileOnce(deps);
    expect(first.kind).toBe("full");
    expect(first.fullResyncReason).toBe("everything_marked"); // the migration's NULL mark
    expect(first.effects.created).toBe(3);
    // The creates marked the active presets: the next cycle reads them, skipping what a full read
    // skips too (an old version with nothing running or pending, a preset wanting no prebuilds).
    const second = await reconcileOnce(deps);
    expect(second.kind).toBe("incremental");
    expect(log.cycles[1]).toEqual([aActive, aSibling, bActive].sort());
    expect(log.cycles[1]).not.toContain(aNoPrebuilds);
    // Nothing written since: nothing read.
    const idle = await reconcileOnce(deps);
    expect(idle).toMatchObject({ kind: "incremental", presetsMarked: 0, presetsTotal: 0 });
    // One active preset changes: it alone is read, not its template's other presets (a replace
    // template pairs none of them), nor b.
    await seed.sql("UPDATE template_version_presets SET desired_instances = 2 WHERE id = $1", [
      aActive,
    ]);
    const changed = await reconcileOnce(deps);
    expect(changed.presetsMarked).toBe(1);
    expect(log.cycles[3]).toEqual([aActive]);
    expect(changed.effects.created).toBe(1);
    // That create marked aActive again (a cycle's own writes mark, like anyone's).
    const settled = await reconcileOnce(deps);
    expect(log.cycles[4]).toEqual([aActive]);
    expect(settled.effects.created).toBe(0);
    // The old version's preset changes with nothing left on it: a full read skips it, so does this.
    await seed.sql("UPDATE template_version_presets SET desired_instances = 2 WHERE id = $1", [
      aOld,
    ]);
    const oldChanged = await reconcileOnce(deps);
    expect(oldChanged.presetsMarked).toBe(1);
    expect(log.cycles[5]).toEqual([]);
    // An old version with a prebuild still running is read (and its prebuild deleted), alone.
    await seed.prebuild(a, { versionId: a.versionId, presetId: aOld });
    const leftover = await reconcileOnce(deps);
    expect(leftover.kind).toBe("incremental");
    expect(log.cycles[6]).toEqual([aOld]);
    expect(leftover.effects.deleted).toBe(1);
  });

  it("a surge template's changed preset brings its partner of the same name on the previous or active version, and the partner's readiness retires the old prebuild", async () => {
    const { db, seed } = await fresh();
    const s = await seed.template({ name: "s" });
    const sOld = await seed.preset(s.versionId, { desired: 1, name: "p" });
    const sOldOther = await seed.preset(s.versionId, { desired: 1, name: "q-old" });
    await seed.prebuild(s, { versionId: s.versionId, presetId: sOld });
    await seed.prebuild(s, { versionId: s.versionId, presetId: sOldOther });
    await seed.sql(
      "INSERT INTO prebuild_rollout_policies (template_id, strategy) VALUES ($1, 'surge')",
      [s.templateId],
    );
    const v2 = await seed.version(s);
    const sNew = await seed.preset(v2, { desired: 1, name: "p" });
    const sNewOther = await seed.preset(v2, { desired: 1, name: "q-new" });
    await seed.promote(s.templateId, v2);
    const log = plannedLog();
    const deps = makeDeps(db.pool, { observer: { onPlanned: log.onPlanned } });
    // Full (the policy's NULL mark): both new presets created for; the old "p" is held (its
    // partner has nothing eligible), the old "q-old" has no partner and goes.
    const first = await reconcileOnce(deps);
    expect(first.kind).toBe("full");
    expect(first.effects).toMatchObject({ created: 2, deleted: 1 });
    // The creates marked the new presets: "p" brings the old "p" (held, still running), "q-new"
    // brings nothing (no "q-new" on the previous version).
    const second = await reconcileOnce(deps);
    expect(second.kind).toBe("incremental");
    expect(log.cycles[1]).toEqual([sOld, sNew, sNewOther].sort());
    expect(second.effects).toMatchObject({ created: 0, deleted: 0 });
    // The new "p" becomes eligible: only it is marked, and its partner is read and retired.
    const jobs = await seed.sql(
      `SELECT wb.job_id FROM workspace_builds wb WHERE wb.template_version_preset_id = $1`,
      [sNew],
    );
    await seed.finishJobs(
      jobs.rows.map((r: { job_id: string }) => r.job_id),
      "succeeded",
    );
    expect(await marks(seed)).toEqual([sNew]);
    const ready = await reconcileOnce(deps);
    expect(ready.kind).toBe("incremental");
    expect(log.cycles[2]).toEqual([sOld, sNew].sort());
    expect(ready.effects.deleted).toBe(1);
  });

  it("a promotion is acted on by the next incremental cycle: old prebuilds deleted, new ones created", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template();
    const old = await seed.preset(t.versionId, { desired: 2 });
    const deps = makeDeps(db.pool);
    await reconcileOnce(deps);
    await seed.finishJobs(await pendingJobs(seed, old), "succeeded");
    await reconcileOnce(deps);
    const v2 = await seed.version(t, { activate: false });
    const next = await seed.preset(v2, { desired: 1 });
    await seed.promote(t.templateId, v2);
    const report = await reconcileOnce(deps);
    expect(report.kind).toBe("incremental");
    expect(report.effects).toMatchObject({ created: 1, deleted: 2 });
    expect(createdFor(await workspacesOf(db.pool, t.templateId), next)).toHaveLength(1);
  });

  it("a change committed after the cycle's read is kept for the next cycle", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template();
    const preset = await seed.preset(t.versionId, { desired: 1 });
    const other = await seed.template();
    const late = await seed.preset(other.versionId, { desired: null });
    const deps = makeDeps(db.pool);
    await reconcileOnce(deps);
    await reconcileOnce(deps); // consumes the create's mark
    let wrote = false;
    const racing = makeDeps(db.pool, {
      observer: {
        // Inside the lock transaction, after its snapshot and before its bookkeeping: another
        // session commits a change the cycle cannot see.
        onPlanned: () => {
          if (wrote) return;
          wrote = true;
          void seed.sql("UPDATE template_version_presets SET desired_instances = 1 WHERE id = $1", [
            late,
          ]);
        },
      },
    });
    await seed.sql("UPDATE template_version_presets SET desired_instances = 2 WHERE id = $1", [
      preset,
    ]);
    const racingCycle = await reconcileOnce(racing);
    expect(racingCycle.effects.created).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 200)); // the racing update commits
    expect(await marks(seed)).toContain(late);
    const next = await reconcileOnce(deps);
    expect(next.kind).toBe("incremental");
    expect(next.effects.created).toBe(1);
    expect(createdFor(await workspacesOf(db.pool, other.templateId), late)).toHaveLength(1);
  });

  it("re-marks a preset whose action failed, and not one whose action succeeded", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template();
    const broken = await seed.preset(t.versionId, { desired: 1, name: "broken" });
    const fine = await seed.template();
    const ok = await seed.preset(fine.versionId, { desired: 1, name: "ok" });
    await seed.sql(`
      CREATE FUNCTION fail_broken() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.template_version_preset_id = '${broken}' THEN RAISE EXCEPTION 'injected'; END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER fail_broken BEFORE INSERT ON workspace_builds FOR EACH ROW EXECUTE FUNCTION fail_broken();`);
    const deps = makeDeps(db.pool);
    const first = await reconcileOnce(deps);
    expect(first.failures).toBe(1);
    // The failed create wrote nothing, so no trigger marked it: the bookkeeping did.
    expect(await marks(seed)).toEqual([broken, ok].sort());
    await seed.sql("DROP TRIGGER fail_broken ON workspace_builds");
    const second = await reconcileOnce(deps);
    expect(second.kind).toBe("incremental");
    expect(second.effects.created).toBe(1);
    expect(createdFor(await workspacesOf(db.pool, t.templateId), broken)).toHaveLength(1);
  });

  it("visits a preset when its oldest prebuild's TTL expires, with no write in between", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template();
    const preset = await seed.preset(t.versionId, { desired: 1, ttlSeconds: 3600 });
    const t0 = new Date();
    await seed.prebuild(t, { versionId: t.versionId, presetId: preset, createdAt: t0 });
    let clock = new Date(t0.getTime() + MINUTE);
    let planned: string[] = [];
    // No full resync in the hour that passes: only the wake-up can bring the preset back.
    const deps = makeDeps(db.pool, {
      options: { planAt: () => clock, fullResyncInterval: 24 * HOUR },
      observer: {
        onPlanned: (presets) => {
          planned = presets.flatMap((p) => p.plan.actions.map((a) => `${a._tag} ${a.reason}`));
        },
      },
    });
    await reconcileOnce(deps);
    const wakeUp = await seed.sql(
      "SELECT due_at FROM prebuild_preset_wakeups WHERE preset_id = $1",
      [preset],
    );
    expect(wakeUp.rows[0]?.due_at.getTime()).toBe(t0.getTime() + HOUR + 1);
    clock = new Date(t0.getTime() + HOUR); // not expired yet
    expect(await reconcileOnce(deps)).toMatchObject({ kind: "incremental", presetsTotal: 0 });
    clock = new Date(t0.getTime() + HOUR + 1000);
    const expired = await reconcileOnce(deps);
    expect(expired).toMatchObject({ kind: "incremental", presetsMarked: 1, presetsTotal: 1 });
    // Planned at the wake-up (the write itself re-checks expiry at the database's clock, which
    // this test does not move).
    expect(planned.some((a) => a.startsWith("Delete") && a.includes("expired"))).toBe(true);
  });

  it("visits a scheduled preset at its schedule's boundary", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template();
    const preset = await seed.preset(t.versionId, { desired: 0, timezone: "UTC" });
    await seed.schedule(preset, "* 9-17 * * 1-5", 2); // weekdays 9:00-17:59 UTC
    let clock = new Date("2026-06-01T08:30:00Z"); // a Monday
    const deps = makeDeps(db.pool, {
      options: { planAt: () => clock, fullResyncInterval: 24 * HOUR },
    });
    expect((await reconcileOnce(deps)).effects.created).toBe(0);
    clock = new Date("2026-06-01T08:59:59Z");
    expect(await reconcileOnce(deps)).toMatchObject({ kind: "incremental", presetsTotal: 0 });
    clock = new Date("2026-06-01T09:00:00Z");
    const boundary = await reconcileOnce(deps);
    expect(boundary).toMatchObject({ kind: "incremental", presetsMarked: 1 });
    expect(boundary.effects.created).toBe(2);
  });
});

describe("full resyncs", () => {
  async function seeded() {
    const { db, seed } = await fresh();
    const t = await seed.template();
    const preset = await seed.preset(t.versionId, { desired: 1 });
    return { db, seed, t, preset };
  }

  it("come every fullResyncInterval of the planned clock, and record their instant", async () => {
    const { db } = await seeded();
    const t0 = new Date("2026-06-01T12:00:00Z");
    let clock = t0;
    const deps = makeDeps(db.pool, {
      options: { planAt: () => clock, fullResyncInterval: 10 * MINUTE },
    });
    const kinds = async (at: number): Promise<CycleReport["kind"]> => {
      clock = new Date(t0.getTime() + at);
      return (await reconcileOnce(deps)).kind;
    };
    expect(await kinds(0)).toBe("full");
    expect(await kinds(5 * MINUTE)).toBe("incremental");
    expect(await kinds(10 * MINUTE - 1)).toBe("incremental");
    expect(await kinds(10 * MINUTE)).toBe("full");
    expect(await kinds(11 * MINUTE)).toBe("incremental");
    // The clock went back past the last resync: resync rather than wait.
    expect(await kinds(0)).toBe("full");
  });

  it("every cycle with an interval of 0", async () => {
    const { db } = await seeded();
    const deps = makeDeps(db.pool, { options: { fullResyncInterval: 0 } });
    for (let i = 0; i < 3; i++) expect((await reconcileOnce(deps)).kind).toBe("full");
  });

  it("when asked (reconcile --once --full)", async () => {
    const { db } = await seeded();
    const deps = makeDeps(db.pool);
    await reconcileOnce(deps);
    expect(await reconcileOnce(deps, { full: true })).toMatchObject({
      kind: "full",
      fullResyncReason: "requested",
    });
  });

  it("after a settings change (a NULL mark), e.g. resuming", async () => {
    const { db, seed } = await seeded();
    const deps = makeDeps(db.pool);
    await reconcileOnce(deps);
    await reconcileOnce(deps);
    expect((await reconcileOnce(deps)).kind).toBe("incremental");
    await seed.setPaused(true);
    expect((await reconcileOnce(deps)).paused).toBe(true);
    await seed.setPaused(false);
    expect(await reconcileOnce(deps)).toMatchObject({
      kind: "full",
      fullResyncReason: "everything_marked",
    });
    expect((await reconcileOnce(deps)).kind).toBe("incremental");
  });

  it("on a replica's first cycle with the lock, after losing it, and after a failed cycle", async () => {
    const { db, seed } = await seeded();
    const memory = newCycleMemory();
    const deps = makeDeps(db.pool, { memory });
    await reconcileOnce(makeDeps(db.pool)); // the migration's full resync, by another process
    expect(await reconcileOnce(deps)).toMatchObject({
      kind: "full",
      fullResyncReason: "lock_gained",
    });
    expect((await reconcileOnce(deps)).kind).toBe("incremental");
    // Another session holds the lock for one cycle.
    const holder = await db.pool.connect();
    try {
      await holder.query("BEGIN");
      await holder.query("SELECT pg_advisory_xact_lock(7)");
      expect((await reconcileOnce(deps)).lockAcquired).toBe(false);
      await holder.query("COMMIT");
    } finally {
      holder.release();
    }
    expect(await reconcileOnce(deps)).toMatchObject({
      kind: "full",
      fullResyncReason: "lock_gained",
    });
    expect((await reconcileOnce(deps)).kind).toBe("incremental");
    // A cycle that fails (its work cannot be read), then one that runs.
    await seed.sql("ALTER TABLE prebuild_dirty_presets RENAME TO prebuild_dirty_presets_moved");
    await expect(reconcileOnce(deps)).rejects.toThrow();
    await seed.sql("ALTER TABLE prebuild_dirty_presets_moved RENAME TO prebuild_dirty_presets");
    expect(await reconcileOnce(deps)).toMatchObject({
      kind: "full",
      fullResyncReason: "previous_cycle_failed",
    });
    expect((await reconcileOnce(deps)).kind).toBe("incremental");
  });

  it("after another replica's recorded failure; runs record their kind", async () => {
    const { db, seed } = await seeded();
    const deps = makeDeps(db.pool, { options: { recordRuns: true } });
    await reconcileOnce(deps);
    expect((await lastReconciliationRun(db.pool))?.kind).toBe("full");
    await reconcileOnce(deps);
    expect((await lastReconciliationRun(db.pool))?.kind).toBe("incremental");
    await seed.sql("ALTER TABLE prebuild_dirty_presets RENAME TO prebuild_dirty_presets_moved");
    await expect(reconcileOnce(deps)).rejects.toThrow();
    await seed.sql("ALTER TABLE prebuild_dirty_presets_moved RENAME TO prebuild_dirty_presets");
    const failed = await lastReconciliationRun(db.pool);
    expect(failed).toMatchObject({ outcome: "failed", kind: null });
    // A one-shot cycle (no memory of its own) still sees the recorded failure.
    expect(await reconcileOnce(deps)).toMatchObject({
      kind: "full",
      fullResyncReason: "previous_cycle_failed",
    });
    expect((await reconcileOnce(deps)).kind).toBe("incremental");
  });

  it("after a cycle whose bookkeeping failed: the cycle still completes, the next one (any process) resyncs", async () => {
    const { db, seed, t, preset } = await seeded();
    await reconcileOnce(makeDeps(db.pool));
    await seed.sql(`
      CREATE FUNCTION refuse_consume() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'injected: bookkeeping refused'; END $$;
      CREATE TRIGGER refuse_consume BEFORE DELETE ON prebuild_dirty_presets
        FOR EACH STATEMENT EXECUTE FUNCTION refuse_consume();`);
    await seed.sql("UPDATE template_version_presets SET desired_instances = 3 WHERE id = $1", [
      preset,
    ]);
    const memory = { heldLock: true, lastCycleFailed: false };
    const acted = await reconcileOnce(makeDeps(db.pool, { memory }));
    expect(acted).toMatchObject({ kind: "incremental", failures: 0 });
    expect(acted.effects.created).toBe(2);
    expect(memory.lastCycleFailed).toBe(true);
    // Its transaction rolled back: the marks it read are still there, and a NULL mark was added.
    expect(await marks(seed)).toEqual(["*", preset].sort());
    await seed.sql("DROP TRIGGER refuse_consume ON prebuild_dirty_presets");
    expect(await reconcileOnce(makeDeps(db.pool, { memory }))).toMatchObject({
      kind: "full",
      fullResyncReason: "previous_cycle_failed",
    });
    expect(createdFor(await workspacesOf(db.pool, t.templateId), preset)).toHaveLength(3);
  });
});

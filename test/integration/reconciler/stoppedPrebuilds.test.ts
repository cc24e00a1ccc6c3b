// Stopped prebuilds (issue #15, PREBUILDS_REPLACE_STOPPED): with the option on, a prebuild whose
// latest build is a succeeded or failed stop is deleted (with a reason naming the cause) and the
// normal fill replaces it; off (the default), they are left as the reference leaves them.
// Antagonists: a person's stopped workspace on the same preset, a stopped prebuild with no
// preset, another template, a stop still running.
import type pg from "pg";
import { describe, expect, it } from "vitest";
import { deletePrebuilds } from "../../../src/execute/deletePrebuilds.ts";
import type { PlannedPreset } from "../../../src/plan/index.ts";
import { planNextCycle } from "../../../src/reconciler/planNextCycle.ts";
import { type Seed, seedAntagonists, workspacesOf } from "./fixtures.ts";
import { databasePerTest, makeDeps, runCycles } from "./reconcilerHarness.ts";

const fresh = databasePerTest();

async function planFor(
  pool: pg.Pool,
  presetId: string,
  replaceStopped: boolean,
): Promise<PlannedPreset> {
  const preview = await planNextCycle({ pool, options: { replaceStopped } });
  const planned = preview.presets.find((p) => p.preset.presetId === presetId);
  if (planned === undefined) throw new Error(`preset ${presetId} not planned`);
  return planned;
}

async function scenario(seed: Seed) {
  const t = await seed.template({ name: "alpha" });
  const preset = await seed.preset(t.versionId, { name: "small", desired: 2 });
  const antagonists = await seedAntagonists(seed, t, t.versionId, preset);
  const stopped = await seed.prebuild(t, {
    versionId: t.versionId,
    presetId: preset,
    transition: "stop",
    job: "succeeded",
    createdAt: new Date(Date.now() - 120_000),
  });
  const failedStop = await seed.prebuild(t, {
    versionId: t.versionId,
    presetId: preset,
    transition: "stop",
    job: "failed",
  });
  const stopping = await seed.prebuild(t, {
    versionId: t.versionId,
    presetId: preset,
    transition: "stop",
    job: "running",
  });
  const userId = await seed.user();
  const persons = await seed.prebuild(t, {
    versionId: t.versionId,
    presetId: preset,
    transition: "stop",
    job: "succeeded",
    ownerId: userId,
  });
  const other = await seed.template({ name: "beta" });
  const otherPreset = await seed.preset(other.versionId, { desired: 1 });
  const otherStopped = await seed.prebuild(other, {
    versionId: other.versionId,
    presetId: otherPreset,
    transition: "stop",
    job: "succeeded",
  });
  return { t, preset, antagonists, stopped, failedStop, stopping, persons, other, otherStopped };
}

async function isDeleting(seed: Seed, templateId: string, workspaceId: string): Promise<boolean> {
  const w = (await workspacesOf(seed.pool, templateId)).find((x) => x.id === workspaceId);
  return w?.builds[w.builds.length - 1]?.transition === "delete";
}

describe("stopped prebuilds", () => {
  it("are left alone by default, as the reference leaves them", async () => {
    const { db, seed } = await fresh();
    const s = await scenario(seed);
    const planned = await planFor(db.pool, s.preset, false);
    expect(planned.plan.actions.some((a) => a._tag === "Delete")).toBe(false);
    await runCycles(makeDeps(db.pool), 2);
    for (const id of [s.stopped.workspaceId, s.failedStop.workspaceId]) {
      expect(await isDeleting(seed, s.t.templateId, id)).toBe(false);
    }
    await s.antagonists.verify();
  });

  it("with PREBUILDS_REPLACE_STOPPED: a succeeded and a failed stop are deleted with their cause; the pool refills", async () => {
    const { db, seed } = await fresh();
    const s = await scenario(seed);
    const planned = await planFor(db.pool, s.preset, true);
    const deletes = planned.plan.actions.filter((a) => a._tag === "Delete");
    expect(deletes).toEqual([
      {
        _tag: "Delete",
        because: "stopped",
        workspaceIds: [s.stopped.workspaceId, s.failedStop.workspaceId],
        reason:
          "2 prebuilds no longer running (1 stopped, 1 whose stop failed) → delete 2, oldest first (PREBUILDS_REPLACE_STOPPED)",
      },
    ]);
    expect(planned.plan.actions.map((a) => a._tag)).toEqual(["Delete", "Create"]);
    const [report] = await runCycles(makeDeps(db.pool, { options: { replaceStopped: true } }), 1);
    expect(report?.effects.deleted).toBe(3); // 2 here, 1 of the other template
    for (const id of [s.stopped.workspaceId, s.failedStop.workspaceId]) {
      expect(await isDeleting(seed, s.t.templateId, id)).toBe(true);
    }
    expect(await isDeleting(seed, s.t.templateId, s.stopping.workspaceId)).toBe(false);
    expect(await isDeleting(seed, s.t.templateId, s.persons.workspaceId)).toBe(false);
    expect(await isDeleting(seed, s.other.templateId, s.otherStopped.workspaceId)).toBe(true);
    await s.antagonists.verify();
  });

  it("covers an old version's preset too", async () => {
    const { db, seed } = await fresh();
    const t = await seed.template({ name: "alpha" });
    const old = await seed.preset(t.versionId, { name: "small", desired: 1 });
    const stopped = await seed.prebuild(t, {
      versionId: t.versionId,
      presetId: old,
      transition: "stop",
      job: "failed",
    });
    const v2 = await seed.version(t, { activate: true });
    await seed.preset(v2, { name: "small", desired: 1 });
    const planned = await planFor(db.pool, old, true);
    expect(planned.plan.actions).toMatchObject([{ _tag: "Delete", because: "stopped" }]);
    await runCycles(makeDeps(db.pool, { options: { replaceStopped: true } }), 1);
    expect(await isDeleting(seed, t.templateId, stopped.workspaceId)).toBe(true);
  });

  it("the delete re-checks at write time that the prebuild is still stopped, and no other cause deletes a stopped one", async () => {
    const { db, seed } = await fresh();
    const s = await scenario(seed);
    const planned = await planFor(db.pool, s.preset, true);
    // Started again since the snapshot: the latest build is a succeeded start now.
    await seed.build(s.t, {
      workspaceId: s.stopped.workspaceId,
      versionId: s.t.versionId,
      presetId: s.preset,
      buildNumber: 3,
      transition: "start",
      job: "succeeded",
    });
    const del = planned.plan.actions.find((a) => a._tag === "Delete");
    if (del?._tag !== "Delete") throw new Error("no delete planned");
    const client = await db.pool.connect();
    try {
      await client.query("BEGIN");
      const result = await deletePrebuilds(client, {
        presetId: s.preset,
        workspaceIds: del.workspaceIds,
        because: "stopped",
        desired: 2,
        jobTags: {},
      });
      expect(result.deleted.map((d) => d.workspaceId)).toEqual([s.failedStop.workspaceId]);
      const other = await deletePrebuilds(client, {
        presetId: s.preset,
        workspaceIds: [s.persons.workspaceId, s.stopping.workspaceId],
        because: "stopped",
        desired: 2,
        jobTags: {},
      });
      expect(other.deleted).toEqual([]);
      const inactive = await deletePrebuilds(client, {
        presetId: s.preset,
        workspaceIds: [s.otherStopped.workspaceId],
        because: "extraneous",
        desired: 0,
        jobTags: {},
      });
      expect(inactive.deleted).toEqual([]);
      await client.query("ROLLBACK");
    } finally {
      client.release();
    }
  });
});

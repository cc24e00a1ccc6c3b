// Per-template cancel policy (issue #13) against real PostgreSQL: each policy with antagonists in
// the same database (another template's stale jobs under the default policy, a person's pending
// job and a running one on the stale version, the active version's pending job), a policy change
// between cycles (and the dirty marks it leaves for incremental cycles), the write-time re-check of
// the policy, and the delete that must still go through a provisioner (the start job had been
// acquired before it was asked to cancel).
import type pg from "pg";
import { describe, expect, it } from "vitest";
import { setCancelPolicy } from "../../../src/controls/cancelPolicy.ts";
import { reconcilerObserver } from "../../../src/daemon/reconcilerObserver.ts";
import { PrebuildMetrics } from "../../../src/observe/metrics.ts";
import type { CancelPolicy } from "../../../src/plan/index.ts";
import { planNextCycle } from "../../../src/reconciler/planNextCycle.ts";
import {
  latestBuild,
  PREBUILDS,
  type Seed,
  type TemplateIds,
  type WorkspaceView,
  workspacesOf,
} from "./fixtures.ts";
import {
  databasePerTest,
  executePlanned,
  makeDeps,
  planFor,
  runCycles,
} from "./reconcilerHarness.ts";

const fresh = databasePerTest();
const NOW = new Date(Math.floor(Date.now() / 1000) * 1000);

async function view(pool: pg.Pool, t: TemplateIds, id: string): Promise<WorkspaceView> {
  const w = (await workspacesOf(pool, t.templateId)).find((x) => x.id === id);
  if (w === undefined) throw new Error(`workspace ${id} not found`);
  return w;
}

/** What the test reads of a workspace: its builds' transitions and job statuses, and deleted. */
async function shape(pool: pg.Pool, t: TemplateIds, id: string): Promise<string> {
  const w = await view(pool, t, id);
  return `${w.builds.map((b) => `${b.transition}:${b.jobStatus}`).join(",")}${w.deleted ? " deleted" : ""}`;
}

interface World {
  t: TemplateIds;
  other: TemplateIds;
  oldPreset: string;
  pending: string;
  running: string;
  personPending: string;
  personRunning: string;
  activePending: string;
  activeRunning: string;
  otherPending: string;
  otherRunning: string;
}

/** Template t with a stale version's pending and running first builds, and the antagonists. */
async function seedWorld(seed: Seed, policy: CancelPolicy): Promise<World> {
  const t = await seed.template();
  // A live provisioner: deletes that need one are queued, not completed at once.
  await seed.provisionerDaemon(t.organizationId, new Date());
  const oldPreset = await seed.preset(t.versionId, { desired: 3 });
  const person = await seed.user();
  const prebuild = async (
    tpl: TemplateIds,
    versionId: string,
    presetId: string,
    job: "pending" | "running",
  ) => (await seed.prebuild(tpl, { versionId, presetId, job })).workspaceId;
  const pending = await prebuild(t, t.versionId, oldPreset, "pending");
  const running = await prebuild(t, t.versionId, oldPreset, "running");
  const personPending = (
    await seed.prebuild(t, {
      versionId: t.versionId,
      presetId: oldPreset,
      job: "pending",
      ownerId: person,
    })
  ).workspaceId;
  await seed.sql("UPDATE workspace_builds SET initiator_id = $1 WHERE workspace_id = $2", [
    person,
    personPending,
  ]);
  const personRunning = (
    await seed.prebuild(t, {
      versionId: t.versionId,
      presetId: oldPreset,
      job: "running",
      ownerId: person,
    })
  ).workspaceId;
  await seed.sql("UPDATE workspace_builds SET initiator_id = $1 WHERE workspace_id = $2", [
    person,
    personRunning,
  ]);
  const v2 = await seed.version(t, { activate: true });
  const activePreset = await seed.preset(v2, { desired: 1 });
  const activePending = await prebuild(t, v2, activePreset, "pending");
  const activeRunning = await prebuild(t, v2, activePreset, "running");
  // Another template, default policy, with a stale version's running first build.
  const other = await seed.template();
  const otherOld = await seed.preset(other.versionId, { desired: 2 });
  const otherPending = await prebuild(other, other.versionId, otherOld, "pending");
  const otherRunning = await prebuild(other, other.versionId, otherOld, "running");
  const otherV2 = await seed.version(other, { activate: true });
  await seed.preset(otherV2, { desired: 0 });
  await setCancelPolicy(seed.pool, t.templateId, policy);
  return {
    t,
    other,
    oldPreset,
    pending,
    running,
    personPending,
    personRunning,
    activePending,
    activeRunning,
    otherPending,
    otherRunning,
  };
}

async function antagonistsUntouched(pool: pg.Pool, w: World): Promise<void> {
  expect({
    personPending: await shape(pool, w.t, w.personPending),
    personRunning: await shape(pool, w.t, w.personRunning),
    activePending: await shape(pool, w.t, w.activePending),
    activeRunning: await shape(pool, w.t, w.activeRunning),
    // The other template keeps the default policy: its pending job is canceled, its running one not.
    otherPending: await shape(pool, w.other, w.otherPending),
    otherRunning: await shape(pool, w.other, w.otherRunning),
  }).toEqual({
    personPending: "start:pending",
    personRunning: "start:running",
    activePending: "start:pending",
    activeRunning: "start:running",
    otherPending: "start:canceled,delete:succeeded deleted",
    otherRunning: "start:running",
  });
}

const options = { planAt: () => NOW, provisionerStaleAfter: 90_000 };

describe("cancel policy", () => {
  it("pending (the default): cancels the stale pending first build, deletes it at once (never provisioned), leaves the running one", async () => {
    const { db, seed } = await fresh();
    const w = await seedWorld(seed, "pending");
    const [first] = await runCycles(makeDeps(db.pool, { options }), 2);
    expect(first?.effects.canceledJobs).toBe(2);
    expect(await shape(db.pool, w.t, w.pending)).toBe("start:canceled,delete:succeeded deleted");
    expect(await shape(db.pool, w.t, w.running)).toBe("start:running");
    await antagonistsUntouched(db.pool, w);
  });

  it("retain: cancels nothing of the template; its jobs stay queued and running", async () => {
    const { db, seed } = await fresh();
    const w = await seedWorld(seed, "retain");
    const preview = await planNextCycle({ pool: db.pool });
    const old = preview.presets.find((p) => p.preset.presetId === w.oldPreset);
    expect(old?.preset.cancelPolicy).toBe("retain");
    expect(old?.plan.actions).toEqual([]);
    await runCycles(makeDeps(db.pool, { options }), 2);
    expect(await shape(db.pool, w.t, w.pending)).toBe("start:pending");
    expect(await shape(db.pool, w.t, w.running)).toBe("start:running");
    await antagonistsUntouched(db.pool, w);
  });

  it("running: also asks the running first build to cancel; once it ends, its delete goes through a provisioner", async () => {
    const { db, seed } = await fresh();
    const w = await seedWorld(seed, "running");
    const metrics = new PrebuildMetrics({ processMetrics: false });
    const observer = reconcilerObserver(metrics);
    const [first] = await runCycles(makeDeps(db.pool, { options, observer }), 1);
    // 2 pending (t's and the other template's) canceled, 1 running asked to cancel.
    expect(first?.effects.canceledJobs).toBe(3);
    // prebuildsd_jobs_canceled_total{template,policy}, from the cycle's own events.
    const names = await seed.sql("SELECT id, name FROM templates WHERE id = ANY($1::uuid[])", [
      [w.t.templateId, w.other.templateId],
    ]);
    const nameOf = (id: string) => names.rows.find((r) => r.id === id)?.name;
    const text = await metrics.text();
    expect(text).toContain(
      `prebuildsd_jobs_canceled_total{template="${nameOf(w.t.templateId)}",policy="running"} 2`,
    );
    expect(text).toContain(
      `prebuildsd_jobs_canceled_total{template="${nameOf(w.other.templateId)}",policy="pending"} 1`,
    );
    expect(await shape(db.pool, w.t, w.pending)).toBe("start:canceled,delete:succeeded deleted");
    expect(await shape(db.pool, w.t, w.running)).toBe("start:canceling");
    await antagonistsUntouched(db.pool, w);
    // Still canceling: nothing more to do, and it is not asked twice.
    const [second] = await runCycles(makeDeps(db.pool, { options }), 1);
    expect(second?.effects.canceledJobs).toBe(0);
    // Its worker finishes it (as CompleteProvisionerJob does for a canceled job).
    const job = latestBuild(await view(db.pool, w.t, w.running)).jobId;
    await seed.sql("UPDATE provisioner_jobs SET completed_at = now() WHERE id = $1", [job]);
    const planned = await planFor(db.pool, w.oldPreset);
    const [third] = await runCycles(makeDeps(db.pool, { options }), 1);
    expect(third?.effects.orphanDeleted).toBe(1);
    // The same (now stale) plan again: the workspace has its delete build, none is added.
    const [again] = await executePlanned(db.pool, planned);
    expect(again?.effects.orphanDeleted).toBe(0);
    // The start job had been acquired: partial resources may exist, so the delete is queued for
    // the live provisioner, and the build records the preset (issue #11).
    const ended = await view(db.pool, w.t, w.running);
    expect(ended.deleted).toBe(false);
    expect(latestBuild(ended)).toMatchObject({
      buildNumber: 2,
      transition: "delete",
      jobStatus: "pending",
      initiatorId: PREBUILDS,
      presetId: w.oldPreset,
    });
    // Settled: the queued delete is not written twice.
    const [fourth] = await runCycles(makeDeps(db.pool, { options }), 1);
    expect(fourth?.effects.orphanDeleted).toBe(0);
    await antagonistsUntouched(db.pool, w);
  });

  it("a policy change between cycles applies at the next cycle and marks the template's presets dirty", async () => {
    const { db, seed } = await fresh();
    const w = await seedWorld(seed, "retain");
    await runCycles(makeDeps(db.pool, { options }), 1);
    expect(await shape(db.pool, w.t, w.pending)).toBe("start:pending");
    await seed.sql("DELETE FROM prebuild_dirty_presets; DELETE FROM prebuild_dirty_rows");
    const change = await setCancelPolicy(db.pool, w.t.templateId, "running");
    expect(change).toMatchObject({ previous: "retain", policy: "running" });
    const dirty = await seed.sql(
      "SELECT count(*)::int AS n FROM prebuild_marked_presets WHERE preset_id = $1 OR preset_id IS NULL",
      [w.oldPreset],
    );
    expect(dirty.rows[0].n).toBeGreaterThan(0);
    await runCycles(makeDeps(db.pool, { options }), 1);
    expect(await shape(db.pool, w.t, w.pending)).toBe("start:canceled,delete:succeeded deleted");
    expect(await shape(db.pool, w.t, w.running)).toBe("start:canceling");
  });
});

describe("the cancel policy is re-checked at write time", () => {
  it("a plan made under running cancels nothing once the template is set to retain", async () => {
    const { db, seed } = await fresh();
    const w = await seedWorld(seed, "running");
    const planned = await planFor(db.pool, w.oldPreset);
    expect(planned.plan.actions.map((a) => a._tag)).toEqual(["CancelPending"]);
    await setCancelPolicy(db.pool, w.t.templateId, "retain");
    const [event] = await executePlanned(db.pool, planned);
    expect(event?.effects).toMatchObject({ canceledJobs: 0, orphanDeleted: 0 });
    expect(event?.detail).toContain('cancel policy "running"');
    expect(await shape(db.pool, w.t, w.pending)).toBe("start:pending");
    expect(await shape(db.pool, w.t, w.running)).toBe("start:running");
  });

  it("a plan made under pending asks no running job to cancel, even once the template is set to running", async () => {
    const { db, seed } = await fresh();
    const w = await seedWorld(seed, "pending");
    const planned = await planFor(db.pool, w.oldPreset);
    await setCancelPolicy(db.pool, w.t.templateId, "running");
    await executePlanned(db.pool, planned);
    expect(await shape(db.pool, w.t, w.pending)).toBe("start:canceled,delete:succeeded deleted");
    expect(await shape(db.pool, w.t, w.running)).toBe("start:running");
  });

  it("a plan made under running cancels and asks nothing once the preset is active again", async () => {
    const { db, seed } = await fresh();
    const w = await seedWorld(seed, "running");
    const planned = await planFor(db.pool, w.oldPreset);
    await seed.promote(w.t.templateId, w.t.versionId);
    const [event] = await executePlanned(db.pool, planned);
    expect(event?.effects).toMatchObject({ canceledJobs: 0, orphanDeleted: 0 });
    expect(await shape(db.pool, w.t, w.pending)).toBe("start:pending");
    expect(await shape(db.pool, w.t, w.running)).toBe("start:running");
  });

  it("a plan that saw a canceled-while-running orphan deletes nothing once the preset is active again or the policy changed", async () => {
    const { db, seed } = await fresh();
    const w = await seedWorld(seed, "running");
    await runCycles(makeDeps(db.pool, { options }), 1);
    const job = latestBuild(await view(db.pool, w.t, w.running)).jobId;
    await seed.sql("UPDATE provisioner_jobs SET completed_at = now() WHERE id = $1", [job]);
    const planned = await planFor(db.pool, w.oldPreset);
    expect(planned.plan.actions[0]).toMatchObject({ _tag: "CancelPending", orphanCount: 1 });
    await setCancelPolicy(db.pool, w.t.templateId, "pending");
    await executePlanned(db.pool, { ...planned });
    expect(await shape(db.pool, w.t, w.running)).toBe("start:canceled");
    await setCancelPolicy(db.pool, w.t.templateId, "running");
    await seed.promote(w.t.templateId, w.t.versionId);
    await executePlanned(db.pool, planned);
    expect(await shape(db.pool, w.t, w.running)).toBe("start:canceled");
  });

  it("running: also deletes a stale first build a person canceled while it ran under another policy (documented cleanup)", async () => {
    const { db, seed } = await fresh();
    const w = await seedWorld(seed, "pending");
    // A person cancels the running stale first build (`prebuildsd cancel`); its worker ends it.
    const job = latestBuild(await view(db.pool, w.t, w.running)).jobId;
    await seed.sql(
      "UPDATE provisioner_jobs SET canceled_at = now(), completed_at = now() WHERE id = $1",
      [job],
    );
    // Under "pending" it stays as the reference leaves it (the first cycle deletes only the
    // stale pending builds it cancels itself; the second finds nothing to delete).
    const [, underPending] = await runCycles(makeDeps(db.pool, { options }), 2);
    expect(underPending?.effects.orphanDeleted).toBe(0);
    expect(await shape(db.pool, w.t, w.running)).toBe("start:canceled");
    // Under "running" the cycle cleans it up through a provisioner, whoever canceled it.
    await setCancelPolicy(db.pool, w.t.templateId, "running");
    const [underRunning] = await runCycles(makeDeps(db.pool, { options }), 1);
    expect(underRunning?.effects.orphanDeleted).toBe(1);
    expect(latestBuild(await view(db.pool, w.t, w.running))).toMatchObject({
      transition: "delete",
      jobStatus: "pending",
      initiatorId: PREBUILDS,
    });
    await antagonistsUntouched(db.pool, w);
  });
});

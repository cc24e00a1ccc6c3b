// Bad data in the shared database, with the built daemon running: every malformed row gets an
// error log naming it and a safe fallback, the loop never stops, and the healthy presets beside
// them converge as if nothing were wrong. The foreign keys make a preset of a vanished version
// impossible; that is proven here too.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli, type Daemon, startDaemon } from "../e2e/cli.ts";
import {
  seedBuild,
  seedOrganization,
  seedPrebuild,
  seedPreset,
  seedSchedule,
  seedTemplate,
  seedUser,
  seedWorkspace,
  setPrebuildsSettings,
} from "../fixtures/seed.ts";
import { freshDatabase, type TestDatabase } from "../harness/freshDatabase.ts";
import {
  daemonBase,
  exitWithin,
  get,
  halfCreatedPrebuilds,
  killIfRunning,
  logLines,
  metric,
  presetPools,
  waitFor,
} from "./support.ts";

let db: TestDatabase;
let daemon: Daemon | undefined;
const ids: Record<string, string> = {};

async function schedule(presetId: string, cron: string, desired: number): Promise<void> {
  await seedSchedule(db.pool, { presetId, cron, desiredInstances: desired });
}

/** Error lines mentioning `text` (a preset or template id). */
function errorsAbout(text: string): string[] {
  return logLines(daemon as Daemon)
    .filter((l) => l.level === 50 && typeof l.msg === "string" && l.msg.includes(text))
    .map((l) => l.msg as string);
}

beforeAll(async () => {
  db = await freshDatabase();
  const org = await seedOrganization(db.pool);
  const template = async (name: string) => seedTemplate(db.pool, { organizationId: org.id, name });
  const good = await template("good");
  ids.good = await seedPreset(db.pool, { versionId: good.activeVersionId, desiredInstances: 2 });

  const cron = await template("bad-cron");
  ids.badCron = await seedPreset(db.pool, {
    versionId: cron.activeVersionId,
    desiredInstances: 1,
    schedulingTimezone: "UTC",
  });
  await schedule(ids.badCron, "every morning at nine", 5);

  const zone = await template("bad-zone");
  ids.badZone = await seedPreset(db.pool, {
    versionId: zone.activeVersionId,
    desiredInstances: 1,
    schedulingTimezone: "Mars/Olympus_Mons",
  });
  await schedule(ids.badZone, "* 0-23 * * *", 4);

  const overlap = await template("overlap");
  ids.overlap = await seedPreset(db.pool, {
    versionId: overlap.activeVersionId,
    desiredInstances: 1,
    schedulingTimezone: "UTC",
  });
  await schedule(ids.overlap, "* 0-23 * * *", 2);
  await schedule(ids.overlap, "* 9-17 * * 1-5", 3);

  const negative = await template("negative");
  ids.negative = await seedPreset(db.pool, {
    versionId: negative.activeVersionId,
    desiredInstances: -5,
  });
  const huge = await template("huge");
  ids.huge = await seedPreset(db.pool, {
    versionId: huge.activeVersionId,
    desiredInstances: 2_147_483_647,
  });
  const ttl = await template("negative-ttl");
  ids.negativeTtl = await seedPreset(db.pool, {
    versionId: ttl.activeVersionId,
    desiredInstances: 1,
    invalidateAfterSecs: -60,
  });
  // A prebuild an hour old: a negative TTL must not expire (and churn) it.
  ids.oldPrebuild = (
    await seedPrebuild(db.pool, {
      template: ttl,
      presetId: ids.negativeTtl,
      createdAt: new Date(Date.now() - 3_600_000),
    })
  ).workspaceId;

  // active_version_id points at no version; its one version has a preset with a prebuild.
  const dangling = await template("dangling");
  ids.danglingTemplate = dangling.templateId;
  ids.danglingPreset = await seedPreset(db.pool, {
    versionId: dangling.activeVersionId,
    desiredInstances: 2,
  });
  ids.danglingPrebuild = (
    await seedPrebuild(db.pool, { template: dangling, presetId: ids.danglingPreset })
  ).workspaceId;
  await db.pool.query("UPDATE templates SET active_version_id = $1 WHERE id = $2", [
    randomUUID(),
    dangling.templateId,
  ]);

  // Antagonist: a user's workspace on the dangling template is never touched.
  ids.user = (await seedUser(db.pool)).id;
  ids.usersOwn = await seedWorkspace(db.pool, { template: dangling, ownerId: ids.user });

  await setPrebuildsSettings(db.pool, "{not json");
});

afterAll(async () => {
  killIfRunning(daemon);
  await db?.drop();
});

describe("malformed rows, with the daemon running", () => {
  it("plan shows each problem and exits 0", async () => {
    const plan = await cli(["plan"], { DATABASE_URL: db.url, PREBUILDS_LOG_LEVEL: "error" });
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain("! preset");
    expect(plan.stdout).toContain("above the maximum 1000");
  });

  it("logs an error naming each bad row, falls back safely, and keeps the loop going", async () => {
    daemon = startDaemon(["run", "--http-address", "127.0.0.1:0"], {
      DATABASE_URL: db.url,
      PREBUILDS_LOG_LEVEL: "info",
      PREBUILDS_RECONCILIATION_INTERVAL: "300ms",
      PREBUILDS_METRICS_REFRESH_INTERVAL: "300ms",
    });
    const base = await daemonBase(daemon);
    await waitFor("the pools to settle", async () => {
      const pools = new Map((await presetPools(db.pool)).map((p) => [p.presetId, p.live]));
      return (
        pools.get(ids.good as string) === 2 &&
        pools.get(ids.huge as string) === 1000 &&
        pools.get(ids.danglingPreset as string) === 0
      );
    });
    await waitFor("three more completed cycles", async () => {
      const body = (await get(base, "/metrics")).body;
      return metric(body, "prebuildsd_reconciliation_cycles_total", { outcome: "completed" }) >= 4;
    });

    // Fallbacks: the static count when the schedules are unusable; 0 for a negative count; the
    // cap for a huge one; no expiry for a negative TTL; inactive for a dangling active version.
    const live = new Map((await presetPools(db.pool)).map((p) => [p.presetId, p]));
    expect(live.get(ids.badCron as string)?.live).toBe(1);
    expect(live.get(ids.badZone as string)?.live).toBe(1);
    expect(live.get(ids.overlap as string)?.live).toBe(1);
    expect(live.get(ids.negative as string)?.everCreated).toBe(0);
    expect(live.get(ids.huge as string)).toMatchObject({ live: 1000, everCreated: 1000 });
    expect(live.get(ids.negativeTtl as string)).toMatchObject({ live: 1, everCreated: 1 });
    const oldOne = await db.pool.query(
      "SELECT 1 FROM workspace_builds WHERE workspace_id = $1 AND transition = 'delete'",
      [ids.oldPrebuild],
    );
    expect(oldOne.rowCount).toBe(0);
    const danglingDelete = await db.pool.query(
      "SELECT 1 FROM workspace_builds WHERE workspace_id = $1 AND transition = 'delete'",
      [ids.danglingPrebuild],
    );
    expect(danglingDelete.rowCount).toBe(1);
    const usersOwn = await db.pool.query("SELECT owner_id, deleted FROM workspaces WHERE id = $1", [
      ids.usersOwn,
    ]);
    expect(usersOwn.rows[0]).toEqual({ owner_id: ids.user, deleted: false });

    // Each problem: an error line naming the row, every cycle.
    expect(errorsAbout(ids.badCron as string).join("\n")).toMatch(
      /cron "every morning at nine" must have 5 fields.*schedules ignored/,
    );
    expect(errorsAbout(ids.badZone as string).join("\n")).toMatch(
      /unknown time zone "Mars\/Olympus_Mons"; schedules ignored/,
    );
    expect(errorsAbout(ids.overlap as string).join("\n")).toMatch(/overlap; schedules ignored/);
    expect(errorsAbout(ids.negative as string).join("\n")).toMatch(
      /desired_instances is -5; using 0/,
    );
    expect(errorsAbout(ids.huge as string).join("\n")).toMatch(
      /desired_instances is 2147483647, above the maximum 1000; using 1000/,
    );
    expect(errorsAbout(ids.negativeTtl as string).join("\n")).toMatch(
      /invalidate_after_secs is -60; treating it as no expiry/,
    );
    expect(errorsAbout(ids.danglingTemplate as string).join("\n")).toMatch(
      /template "dangling" .* has an active_version_id that is none of its versions/,
    );
    // Logged in every cycle that reads its presets: once they have nothing left to clean up, a
    // cycle no longer reads them, and the template stays inert.
    expect(errorsAbout(ids.danglingTemplate as string).length).toBeGreaterThanOrEqual(1);
    const settings = logLines(daemon).filter(
      (l) => l.level === 50 && String(l.msg).includes("site_configs 'prebuilds_settings'"),
    );
    expect(settings.length).toBeGreaterThanOrEqual(3);
    expect(String(settings[0]?.msg)).toContain("is not JSON");
    expect(String(settings[0]?.msg)).toContain("treating reconciliation as not paused");
    expect(
      metric((await get(base, "/metrics")).body, "prebuildsd_reconciliation_cycle_errors_total"),
    ).toBe(0);
  });

  it("treats settings of the wrong shape as not paused, with an error naming the key", async () => {
    const base = await daemonBase(daemon as Daemon);
    for (const [value, problem] of [
      ["[true]", "is not a JSON object"],
      ['{"reconciliation_paused":"yes"}', 'reconciliation_paused is "yes", not a boolean'],
      ["null", "is not a JSON object"],
    ] as const) {
      await setPrebuildsSettings(db.pool, value);
      await waitFor(`an error about ${value}`, async () =>
        logLines(daemon as Daemon).some(
          (l) =>
            l.level === 50 &&
            String(l.msg).includes("site_configs 'prebuilds_settings'") &&
            String(l.msg).includes(problem),
        ),
      );
    }
    // Still reconciling (not paused): a new preset is filled.
    const late = await seedTemplate(db.pool, { name: "late" });
    const latePreset = await seedPreset(db.pool, {
      versionId: late.activeVersionId,
      desiredInstances: 1,
    });
    await waitFor("the late preset filled", async () => {
      return (await presetPools(db.pool)).find((p) => p.presetId === latePreset)?.live === 1;
    });
    // A valid document pauses as before.
    await setPrebuildsSettings(db.pool, '{"reconciliation_paused": true}');
    await waitFor("the paused gauge", async () => {
      const body = (await get(base, "/metrics")).body;
      return metric(body, "coderd_prebuilt_workspaces_reconciliation_paused") === 1;
    });
    expect(await halfCreatedPrebuilds(db.pool)).toEqual([]);
    daemon?.child.kill("SIGTERM");
    expect(await exitWithin(daemon as Daemon, 15_000)).toBe(0);
  });
});

describe("a preset whose template version no longer exists", () => {
  it("cannot exist: the foreign keys reject it, cascade it away, or refuse the delete", async () => {
    const t = await seedTemplate(db.pool, { name: "fk", versions: 2 });
    const [oldVersion, activeVersion] = t.versionIds as [string, string];
    // 1. No preset can name a version that does not exist.
    await expect(
      seedPreset(db.pool, { versionId: randomUUID(), desiredInstances: 1 }),
    ).rejects.toMatchObject({ code: "23503" });
    // 2. Deleting a version without builds deletes its presets, their parameters and schedules.
    const unused = await seedPreset(db.pool, {
      versionId: oldVersion,
      desiredInstances: 1,
      parameters: { cpu: "2" },
    });
    await schedule(unused, "* 9-17 * * *", 2);
    await db.pool.query("DELETE FROM template_versions WHERE id = $1", [oldVersion]);
    for (const table of [
      "template_version_presets WHERE id = $1",
      "template_version_preset_parameters WHERE template_version_preset_id = $1",
      "template_version_preset_prebuild_schedules WHERE preset_id = $1",
    ]) {
      expect((await db.pool.query(`SELECT 1 FROM ${table}`, [unused])).rowCount, table).toBe(0);
    }
    // 3. A version some workspace was built from cannot be deleted at all.
    const used = await seedPreset(db.pool, { versionId: activeVersion, desiredInstances: 1 });
    const workspace = await seedWorkspace(db.pool, { template: t });
    await seedBuild(db.pool, {
      template: t,
      workspaceId: workspace,
      versionId: activeVersion,
      buildNumber: 1,
      presetId: used,
    });
    await expect(
      db.pool.query("DELETE FROM template_versions WHERE id = $1", [activeVersion]),
    ).rejects.toMatchObject({ code: "23503" });
  });
});

// The benchmark's fleet generator produces exactly the rows it promises, for a very small fleet
// (the benchmark itself is not a test: nothing here measures time).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshDatabase, type TestDatabase } from "../../test/harness/freshDatabase.ts";
import { countFleet, expectedCounts, type FleetSpec, generateFleet } from "../fleet.ts";

const TINY: FleetSpec = {
  name: "tiny",
  templates: 3,
  versionsPerTemplate: 2,
  presetsPerVersion: 2,
  desiredInstances: 2,
  runningPerActivePreset: 2,
  historicalBuilds: 60,
};

describe("bench fleet generator", () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await freshDatabase();
  });
  afterAll(async () => {
    await db.drop();
  });

  it("creates the expected rows, with full pools on every active preset and none on old ones", async () => {
    const client = await db.pool.connect();
    try {
      await generateFleet(client, TINY, { now: new Date("2026-01-15T12:00:00Z") });
      expect(await countFleet(client)).toEqual(expectedCounts(TINY));
      // Every running prebuild belongs to an active preset, each of which has exactly its pool.
      const { rows } = await client.query(`
        SELECT p.template_version_id = t.active_version_id AS active, count(*)::int AS running
        FROM workspace_prebuilds wp
        JOIN workspace_latest_builds lb ON lb.workspace_id = wp.id
        JOIN template_version_presets p ON p.id = wp.current_preset_id
        JOIN template_versions tv ON tv.id = p.template_version_id
        JOIN templates t ON t.id = tv.template_id
        WHERE lb.transition = 'start' AND lb.job_status = 'succeeded'
        GROUP BY p.id, 1`);
      expect(rows).toHaveLength(TINY.templates * TINY.presetsPerVersion);
      expect(
        rows.every((r) => r.active === true && r.running === TINY.runningPerActivePreset),
      ).toBe(true);
    } finally {
      client.release();
    }
  });

  it("refuses a spec that is not made of non-negative integers", async () => {
    const client = await db.pool.connect();
    try {
      await expect(
        generateFleet(client, { ...TINY, templates: 1.5 }, { now: new Date() }),
      ).rejects.toThrow("templates must be a non-negative integer");
    } finally {
      client.release();
    }
  });
});

// The state sampler's queue depth and regular-creation totals (issue #14), read from a real
// database and served by the metrics registry: only what the sampler read, never a scrape query.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/config.ts";
import { sampleState } from "../../src/daemon/stateSampler.ts";
import { PrebuildMetrics } from "../../src/observe/metrics.ts";
import {
  PREBUILDS_USER,
  type SeededTemplate,
  seedBuild,
  seedJob,
  seedPrebuild,
  seedPreset,
  seedTemplate,
  seedUser,
  seedWorkspace,
} from "../fixtures/seed.ts";
import { freshDatabase, type TestDatabase } from "../harness/freshDatabase.ts";

let db: TestDatabase;
let text: string;
const MINUTE = 60_000;

/** A workspace a user created (build 1 by that user) whose first job ended in `job`. */
async function userWorkspace(
  template: SeededTemplate,
  userId: string,
  job: "succeeded" | "failed" | "pending" | "running",
  presetId: string | null,
  createdAt = new Date(Date.now() - MINUTE),
): Promise<void> {
  const workspaceId = await seedWorkspace(db.pool, { template, ownerId: userId });
  await seedBuild(db.pool, {
    template,
    workspaceId,
    versionId: template.activeVersionId,
    buildNumber: 1,
    job,
    presetId,
    initiatorId: userId,
    createdAt,
  });
}

beforeAll(async () => {
  db = await freshDatabase();
  const alice = (await seedUser(db.pool)).id;
  const template = await seedTemplate(db.pool, { name: "dev" });
  const small = await seedPreset(db.pool, { versionId: template.activeVersionId, name: "small" });
  const { organizationId } = template;
  // Regular creations: two succeeded with the preset, one without; a failed and a pending one
  // do not count, nor does a prebuild (claimed or not), nor a deleted template's workspace.
  await userWorkspace(template, alice, "succeeded", small);
  await userWorkspace(template, alice, "succeeded", small);
  await userWorkspace(template, alice, "succeeded", null);
  await userWorkspace(template, alice, "failed", small);
  await userWorkspace(template, alice, "pending", small, new Date(Date.now() - 10 * MINUTE));
  await userWorkspace(template, alice, "running", small);
  await seedPrebuild(db.pool, { template, presetId: small });
  await seedPrebuild(db.pool, { template, presetId: small, ownerId: alice });
  const gone = await seedTemplate(db.pool, { name: "gone", organizationId, deleted: true });
  await userWorkspace(gone, alice, "succeeded", null);
  // The queue: prebuild jobs pending (the oldest 5 minutes old) and running; canceled,
  // canceling and finished jobs are not in it.
  await seedPrebuild(db.pool, {
    template,
    presetId: small,
    state: "pending",
    createdAt: new Date(Date.now() - 5 * MINUTE),
  });
  await seedPrebuild(db.pool, { template, presetId: small, state: "pending" });
  await seedPrebuild(db.pool, { template, presetId: small, state: "building" });
  await seedPrebuild(db.pool, { template, presetId: small, state: "canceled" });
  await seedPrebuild(db.pool, { template, presetId: small, state: "canceling" });
  await seedJob(db.pool, { organizationId, state: "failed", initiatorId: PREBUILDS_USER });
  // Another template: a person's pending build only (issue #13's per-template series).
  const other = await seedTemplate(db.pool, { name: "other", organizationId });
  await userWorkspace(other, alice, "pending", null, new Date(Date.now() - 2 * MINUTE));

  const config = loadConfig({ DATABASE_URL: db.url, PREBUILDS_MAX_INFLIGHT_JOBS: "50" });
  const metrics = new PrebuildMetrics({ processMetrics: false });
  metrics.setStateSample(await sampleState({ pool: db.pool }, config, new Date()));
  text = await metrics.text();
});

afterAll(async () => {
  await db?.drop();
});

const value = (series: string): number => {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  if (line === undefined) throw new Error(`no series ${series} in:\n${text}`);
  return Number(line.slice(series.length + 1));
};

describe("the state sampler's queue and creation metrics", () => {
  it("counts regular creations as Coder does: succeeded first builds not by the prebuilds user", () => {
    const labels = (preset: string) =>
      `{template_name="dev",preset_name="${preset}",organization_name=`;
    const lines = text.split("\n").filter((l) => l.startsWith("coderd_workspace_creation_total{"));
    expect(lines).toHaveLength(2);
    expect(lines.find((l) => l.includes(labels("small")))).toMatch(/ 2$/);
    expect(lines.find((l) => l.includes(labels("")))).toMatch(/ 1$/);
  });

  it("counts pending and running jobs by initiator, never canceled or finished ones", () => {
    expect(value('prebuildsd_provisioner_jobs{status="pending",initiator="prebuilds"}')).toBe(2);
    // dev's and other's.
    expect(value('prebuildsd_provisioner_jobs{status="pending",initiator="user"}')).toBe(2);
    expect(value('prebuildsd_provisioner_jobs{status="running",initiator="prebuilds"}')).toBe(1);
    expect(value('prebuildsd_provisioner_jobs{status="running",initiator="user"}')).toBe(1);
  });

  it("reports how long the oldest pending job of each initiator has waited", () => {
    const prebuilds = value(
      'prebuildsd_provisioner_job_oldest_pending_age_seconds{initiator="prebuilds"}',
    );
    const user = value('prebuildsd_provisioner_job_oldest_pending_age_seconds{initiator="user"}');
    // Seeded 5 and 10 minutes before the sample; allow for a slow machine between the two.
    expect(prebuilds).toBeGreaterThanOrEqual(300);
    expect(prebuilds).toBeLessThan(600);
    expect(user).toBeGreaterThanOrEqual(600);
    expect(user).toBeLessThan(900);
  });
});

describe("the state sampler's queue metrics per template and against the cap (issue #13)", () => {
  it("counts pending and running jobs by template and initiator", () => {
    const series = (template: string, status: string, initiator: string) =>
      `prebuildsd_provisioner_jobs_by_template{template_name="${template}",status="${status}",initiator="${initiator}"}`;
    expect(value(series("dev", "pending", "prebuilds"))).toBe(2);
    expect(value(series("dev", "running", "prebuilds"))).toBe(1);
    expect(value(series("dev", "pending", "user"))).toBe(1);
    expect(value(series("dev", "running", "user"))).toBe(1);
    expect(value(series("other", "pending", "user"))).toBe(1);
    expect(text).not.toContain('template_name="other",status="pending",initiator="prebuilds"');
  });

  it("reports each template's oldest pending job", () => {
    const age = (template: string, initiator: string) =>
      value(
        `prebuildsd_provisioner_job_oldest_pending_age_by_template_seconds{template_name="${template}",initiator="${initiator}"}`,
      );
    expect(age("dev", "prebuilds")).toBeGreaterThanOrEqual(300);
    expect(age("dev", "user")).toBeGreaterThanOrEqual(600);
    expect(age("other", "user")).toBeGreaterThanOrEqual(120);
    expect(age("other", "user")).toBeLessThan(300);
  });

  it("reports the prebuild jobs in flight (pending, running, canceling) against the cap", () => {
    expect(value("prebuildsd_prebuild_jobs_in_flight")).toBe(4);
    expect(value("prebuildsd_prebuild_jobs_in_flight_cap")).toBe(50);
  });
});

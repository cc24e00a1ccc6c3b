// Tagged routing of prebuild jobs (issue #12): a prebuild job carries its template version's
// provisioner tags with PREBUILDS_PROVISIONER_TAGS over them, so a dedicated, tagged prebuild pool
// takes it and an untagged provisioner does not — and an untagged version with no configured tags
// still queues untagged jobs for untagged provisioners.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../../src/config/config.ts";
import { reconcilerOptions } from "../../../src/daemon/reconcilerOptions.ts";
import { acquireProvisionerJob } from "../../../src/db/sql/queue_sql.ts";
import { reconcileOnce } from "../../../src/reconciler/reconcileOnce.ts";
import { seedPreset, seedTemplate } from "../../fixtures/seed.ts";
import { freshDatabase, type TestDatabase } from "../../harness/freshDatabase.ts";
import { makeDeps } from "../reconciler/reconcilerHarness.ts";

describe("tagged routing of prebuild jobs", () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await freshDatabase();
  });
  afterAll(async () => {
    await db.drop();
  });

  const acquire = (organizationId: string, tags: Record<string, string>) =>
    acquireProvisionerJob(db.pool, {
      workerId: randomUUID(),
      organizationId,
      types: ["workspace_build"],
      provisionerTags: tags,
    });

  async function jobTagsOf(organizationId: string) {
    const { rows } = await db.pool.query(
      "SELECT tags FROM provisioner_jobs WHERE organization_id = $1",
      [organizationId],
    );
    return rows.map((r) => r.tags);
  }

  it("merges the version's tags with PREBUILDS_PROVISIONER_TAGS, and only the tagged pool takes the job", async () => {
    const template = await seedTemplate(db.pool);
    await db.pool.query(
      `UPDATE template_versions SET provisioner_tags = '{"gpu": "true", "is_prebuild": "false"}'
       WHERE id = $1`,
      [template.activeVersionId],
    );
    await seedPreset(db.pool, { versionId: template.activeVersionId, desiredInstances: 1 });
    const config = loadConfig({ HOME: "/tmp", PREBUILDS_PROVISIONER_TAGS: "is_prebuild=true" });
    await reconcileOnce(makeDeps(db.pool, { options: reconcilerOptions(config) }));

    expect(await jobTagsOf(template.organizationId)).toEqual([
      { scope: "organization", gpu: "true", is_prebuild: "true" },
    ]);
    expect(await acquire(template.organizationId, { scope: "organization" })).toBeNull();
    expect(await acquire(template.organizationId, { is_prebuild: "true" })).toBeNull(); // no gpu
    const pool = { scope: "organization", is_prebuild: "true", gpu: "true", region: "eu" };
    expect(await acquire(template.organizationId, pool)).not.toBeNull();
  });

  it("queues untagged jobs when neither the version nor the settings name tags", async () => {
    const template = await seedTemplate(db.pool);
    await seedPreset(db.pool, { versionId: template.activeVersionId, desiredInstances: 1 });
    const config = loadConfig({ HOME: "/tmp" });
    await reconcileOnce(makeDeps(db.pool, { options: reconcilerOptions(config) }));
    expect(await jobTagsOf(template.organizationId)).toEqual([{ scope: "organization" }]);
    expect(await acquire(template.organizationId, { is_prebuild: "true" })).toBeNull();
    expect(await acquire(template.organizationId, { scope: "organization" })).not.toBeNull();
  });
});

// Tagged routing both ways through the shipped acquire query: the SQL twin of the tag rules
// (provisioner_tagset_contains, migration 0041) agrees with the pure one on every case of the
// shared table, and a job reaches only a provisioner the rules allow.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { acquireProvisionerJob } from "../../../src/db/sql/queue_sql.ts";
import { seedJob, seedOrganization } from "../../fixtures/seed.ts";
import { TAG_CASES } from "../../fixtures/tagCases.ts";
import { freshDatabase, type TestDatabase } from "../../harness/freshDatabase.ts";

describe("provisioner tag matching in the queue", () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await freshDatabase();
  });
  afterAll(async () => {
    await db.drop();
  });

  for (const c of TAG_CASES) {
    it(`${c.matches ? "hands out" : "withholds"}: ${c.name}`, async () => {
      const org = (await seedOrganization(db.pool)).id;
      const jobId = await seedJob(db.pool, { organizationId: org, tags: c.job });
      const acquired = await acquireProvisionerJob(db.pool, {
        workerId: randomUUID(),
        organizationId: org,
        types: ["workspace_build"],
        provisionerTags: c.provisioner,
      });
      expect(acquired?.id ?? null).toBe(c.matches ? jobId : null);
    });
  }

  it("routes each job of a mixed queue only to the pool it belongs to", async () => {
    const org = (await seedOrganization(db.pool)).id;
    const untagged = await seedJob(db.pool, { organizationId: org });
    const prebuild = await seedJob(db.pool, {
      organizationId: org,
      tags: { scope: "organization", is_prebuild: "true" },
    });
    const acquire = (tags: Record<string, string>) =>
      acquireProvisionerJob(db.pool, {
        workerId: randomUUID(),
        organizationId: org,
        types: ["workspace_build"],
        provisionerTags: tags,
      });
    const prebuildPool = { scope: "organization", is_prebuild: "true" };
    expect((await acquire(prebuildPool))?.id).toBe(prebuild);
    expect(await acquire(prebuildPool)).toBeNull(); // the untagged job is not the pool's
    expect((await acquire({ scope: "organization" }))?.id).toBe(untagged);
  });
});

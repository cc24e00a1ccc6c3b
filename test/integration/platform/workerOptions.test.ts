// docs/platform-contract.md, "What a provisioner does": the startWorker options a platform has to
// decide on. `types` defaults to every job type, so a build-only handler that does not narrow it
// also gets version imports and dry runs; `workerId` and `name` default to new values at every
// start, so each restart leaves another provisioner_daemons row unless stable ones are passed.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AcquiredJob, ProvisionerJobType } from "../../../src/worker/job.ts";
import { startWorker, type WorkerOptions } from "../../../src/worker/worker.ts";
import { seedJob, seedOrganization } from "../../fixtures/seed.ts";
import { freshDatabase, type TestDatabase } from "../../harness/freshDatabase.ts";
import { waitFor } from "../../reliability/support.ts";

let db: TestDatabase;

beforeAll(async () => {
  db = await freshDatabase();
});
afterAll(async () => {
  await db?.drop();
});

/** Seeds one pending job of each type; runs a worker until `expected` jobs ran; their types. */
async function typesTaken(
  options: Partial<WorkerOptions>,
  expected: number,
): Promise<ProvisionerJobType[]> {
  const org = await seedOrganization(db.pool);
  const human = randomUUID();
  for (const type of [
    "workspace_build",
    "template_version_import",
    "template_version_dry_run",
  ] as const) {
    await seedJob(db.pool, { organizationId: org.id, type, initiatorId: human });
  }
  const taken: AcquiredJob[] = [];
  const worker = await startWorker({
    pool: db.pool,
    organizationId: org.id,
    pollInterval: 50,
    handler: async (job) => {
      taken.push(job);
    },
    ...options,
  });
  await waitFor(`${expected} jobs to run`, async () => taken.length >= expected);
  // Long enough for a worker that could take more to have taken it.
  await new Promise((r) => setTimeout(r, 300));
  await worker.stop({ grace: 1_000 });
  return taken.map((j) => j.type).sort();
}

describe("startWorker's options", () => {
  it("takes every job type unless `types` narrows it", async () => {
    expect(await typesTaken({}, 3)).toEqual([
      "template_version_dry_run",
      "template_version_import",
      "workspace_build",
    ]);
    expect(await typesTaken({ types: ["workspace_build"] }, 1)).toEqual(["workspace_build"]);
  });

  it("registers another provisioner_daemons row at every start, unless workerId and name are stable", async () => {
    const org = await seedOrganization(db.pool);
    const restart = async (options: Partial<WorkerOptions>) => {
      const worker = await startWorker({
        pool: db.pool,
        organizationId: org.id,
        handler: async () => {},
        ...options,
      });
      await worker.stop({ grace: 50 });
      return worker.id;
    };
    const random = [await restart({}), await restart({})];
    const stableId = randomUUID();
    const stable = [
      await restart({ workerId: stableId, name: "provisioner-eu-0" }),
      await restart({ workerId: stableId, name: "provisioner-eu-0" }),
    ];
    expect(stable).toEqual([stableId, stableId]);
    const { rows } = await db.pool.query(
      "SELECT id, name FROM provisioner_daemons WHERE organization_id = $1 ORDER BY created_at, id",
      [org.id],
    );
    expect(rows).toHaveLength(3);
    expect(rows).toEqual(
      expect.arrayContaining([
        { id: random[0], name: `worker-${random[0]?.slice(0, 8)}` },
        { id: random[1], name: `worker-${random[1]?.slice(0, 8)}` },
        { id: stableId, name: "provisioner-eu-0" },
      ]),
    );
  });
});

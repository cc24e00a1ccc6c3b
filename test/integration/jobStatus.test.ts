// provisioner_jobs.job_status is a stored generated column derived from the timestamps and the
// error exactly as the reference derives it (§1.2). Every combination of started / canceled /
// completed set or not, and error NULL, empty or set: 24 rows, all in one table at once.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedJob, seedOrganization } from "../fixtures/seed.ts";
import { freshDatabase, type TestDatabase } from "../harness/freshDatabase.ts";

interface Combination {
  readonly started: boolean;
  readonly canceled: boolean;
  readonly completed: boolean;
  readonly error: null | "" | "boom";
}

/** The reference's rule, written out: completion decides first, then the error, then cancellation. */
function expectedStatus(c: Combination): string {
  const failed = c.error !== null && c.error !== "";
  if (c.completed) return failed ? "failed" : c.canceled ? "canceled" : "succeeded";
  if (failed) return "failed";
  if (c.canceled) return "canceling";
  return c.started ? "running" : "pending";
}

const COMBINATIONS: Combination[] = [];
for (const started of [false, true]) {
  for (const canceled of [false, true]) {
    for (const completed of [false, true]) {
      for (const error of [null, "", "boom"] as const) {
        COMBINATIONS.push({ started, canceled, completed, error });
      }
    }
  }
}

const label = (c: Combination) =>
  `started=${c.started} canceled=${c.canceled} completed=${c.completed} error=${JSON.stringify(c.error)}`;

describe("provisioner_jobs.job_status", () => {
  let db: TestDatabase;
  const jobs = new Map<Combination, string>();

  beforeAll(async () => {
    db = await freshDatabase();
    const org = await seedOrganization(db.pool);
    const at = new Date("2026-01-01T00:00:00Z");
    for (const c of COMBINATIONS) {
      const id = await seedJob(db.pool, {
        organizationId: org.id,
        columns: {
          startedAt: c.started ? at : null,
          canceledAt: c.canceled ? at : null,
          completedAt: c.completed ? at : null,
          error: c.error,
        },
      });
      jobs.set(c, id);
    }
  });
  afterAll(async () => {
    await db.drop();
  });

  it("covers every combination", () => {
    expect(COMBINATIONS).toHaveLength(24);
  });

  it.each(COMBINATIONS.map((c) => [label(c), c] as const))("%s", async (_, c) => {
    const { rows } = await db.pool.query("SELECT job_status FROM provisioner_jobs WHERE id = $1", [
      jobs.get(c),
    ]);
    expect(rows[0]?.job_status).toBe(expectedStatus(c));
  });

  it("never produces 'unknown', and follows later updates of the columns", async () => {
    const id = jobs.get(COMBINATIONS[0] as Combination);
    await db.pool.query("UPDATE provisioner_jobs SET started_at = now() WHERE id = $1", [id]);
    const running = await db.pool.query("SELECT job_status FROM provisioner_jobs WHERE id = $1", [
      id,
    ]);
    expect(running.rows[0]?.job_status).toBe("running");
    const unknown = await db.pool.query(
      "SELECT count(*)::int AS n FROM provisioner_jobs WHERE job_status = 'unknown'",
    );
    expect(unknown.rows[0]?.n).toBe(0);
  });
});

// `prebuildsd cancel` as an operator runs it: the built binary against a real PostgreSQL, one line
// per job (or the exact JSON shape), exit 0 for all five results and 2 for a malformed id.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedJob, seedOrganization } from "../fixtures/seed.ts";
import { freshDatabase, type TestDatabase } from "../harness/freshDatabase.ts";
import { cli } from "./cli.ts";

let db: TestDatabase;
let env: Record<string, string>;
let org: string;

beforeAll(async () => {
  db = await freshDatabase();
  org = (await seedOrganization(db.pool)).id;
  env = { DATABASE_URL: db.url, PREBUILDS_LOG_LEVEL: "warn" };
});
afterAll(async () => {
  await db?.drop();
});

async function status(id: string): Promise<string> {
  const { rows } = await db.pool.query("SELECT job_status FROM provisioner_jobs WHERE id = $1", [
    id,
  ]);
  return rows[0]?.job_status;
}

describe("prebuildsd cancel", () => {
  it("prints each job's result, in order, in JSON, and exits 0 for all five", async () => {
    const pending = await seedJob(db.pool, { organizationId: org });
    const running = await seedJob(db.pool, { organizationId: org, state: "running" });
    const succeeded = await seedJob(db.pool, { organizationId: org, state: "succeeded" });
    const canceled = await seedJob(db.pool, { organizationId: org, state: "canceled" });
    const missing = randomUUID();
    const ids = [pending, running, succeeded, canceled, missing];
    const result = await cli(["cancel", "--json", ...ids], env);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    // Indented like every other --json output.
    expect(result.stdout).toBe(`${JSON.stringify(JSON.parse(result.stdout), null, 2)}\n`);
    expect(JSON.parse(result.stdout)).toEqual({
      results: [
        { jobId: pending, result: "canceled_while_pending" },
        { jobId: running, result: "cancel_requested_while_running" },
        { jobId: succeeded, result: "already_completed" },
        { jobId: canceled, result: "already_canceled" },
        { jobId: missing, result: "not_found" },
      ],
    });
    expect(await status(pending)).toBe("canceled");
    expect(await status(running)).toBe("canceling");
  });

  it("prints one line per job naming its result", async () => {
    const pending = await seedJob(db.pool, { organizationId: org });
    const result = await cli(["cancel", pending, pending], env);
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(new RegExp(`^${pending}  canceled_while_pending  `));
    expect(lines[1]).toMatch(new RegExp(`^${pending}  already_canceled  `));
  });

  it("exits 2 naming a malformed id, and cancels none of the others", async () => {
    const pending = await seedJob(db.pool, { organizationId: org });
    const result = await cli(["cancel", pending, "42"], env);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'prebuildsd: job id must be a UUID like 0b6e4a52-3c1f-4e8a-9d2b-7f5c1e0a9b34 (got "42")\n',
    );
    expect(await status(pending)).toBe("pending");
  });
});

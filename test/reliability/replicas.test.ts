// Three daemons against one database while new template versions keep being promoted and
// simulated provisioners build and delete (about 15 s; test/stress/replicas.ts runs the same
// scenario for a minute and prints its findings). Exactly one replica acts at a time, no active
// pool ever exceeds its desired size, no slot is filled twice, and the end state is exact.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshDatabase, type TestDatabase } from "../harness/freshDatabase.ts";
import { runReplicaScenario } from "./replicaScenario.ts";

let db: TestDatabase;

beforeAll(async () => {
  db = await freshDatabase();
});

afterAll(async () => {
  await db?.drop();
});

describe("three replicas with promotions happening", () => {
  it("act one at a time, never overfill a pool, never fill a slot twice, and converge", async () => {
    const findings = await runReplicaScenario({
      url: db.url,
      pool: db.pool,
      replicas: 3,
      durationMs: 15_000,
      promoteEveryMs: 3000,
      interval: "300ms",
    });
    expect(findings.promotions).toBeGreaterThanOrEqual(4);
    expect(findings.samples).toBeGreaterThan(20);
    // The advisory lock: never two holders; leadership is contested (others lose the race).
    expect(findings.maxLockHolders).toBe(1);
    expect(findings.cycles.reduce((n, c) => n + c.notLeader, 0)).toBeGreaterThan(0);
    expect(findings.cycles.reduce((n, c) => n + c.completed, 0)).toBeGreaterThan(10);
    expect(findings.cycles.every((c) => c.failed === 0 && c.exitCode === 0)).toBe(true);
    // Pools: an active preset never above desired; old versions only drain; each slot once.
    expect(findings.activeOverDesired).toBe(0);
    expect(findings.createdAfterInactive).toBe(0);
    expect(findings.slotsFilledTwice).toBe(0);
    expect(findings.halfCreated).toBe(0);
    expect(findings.converged).toBe(true);
    expect(findings.provisionerJobs.failed).toBe(0);
  }, 90_000);
});

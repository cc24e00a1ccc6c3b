// claimPrebuild (issue #12): the typed claim API over the shipped ClaimPrebuiltWorkspace query —
// a claimed workspace, a typed "none available", a name the user already uses, and bad input.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  claimPrebuild,
  UnknownUserError,
  WorkspaceNameTakenError,
} from "../../../src/worker/claimPrebuild.ts";
import {
  seedPrebuild,
  seedPreset,
  seedTemplate,
  seedUser,
  seedWorkspace,
} from "../../fixtures/seed.ts";
import { freshDatabase, type TestDatabase } from "../../harness/freshDatabase.ts";

describe("claimPrebuild", () => {
  let db: TestDatabase;
  let user: string;

  beforeAll(async () => {
    db = await freshDatabase();
    user = (await seedUser(db.pool)).id;
  });
  afterAll(async () => {
    await db.drop();
  });

  it("hands a ready prebuild to the user on the database clock, then reports none available", async () => {
    const template = await seedTemplate(db.pool);
    const preset = await seedPreset(db.pool, { versionId: template.activeVersionId });
    const notReady = await seedPrebuild(db.pool, { template, presetId: preset, ready: false });
    const ready = await seedPrebuild(db.pool, { template, presetId: preset });
    const before = (await db.pool.query("SELECT now() AS now")).rows[0].now as Date;

    const claimed = await claimPrebuild(db.pool, {
      presetId: preset,
      userId: user,
      workspaceName: "my-workspace",
      ttlNanoseconds: 3_600_000_000_000n,
    });
    expect(claimed).toEqual({
      status: "claimed",
      workspaceId: ready.workspaceId,
      workspaceName: "my-workspace",
    });
    const { rows } = await db.pool.query(
      "SELECT owner_id, name, ttl, last_used_at FROM workspaces WHERE id = $1",
      [ready.workspaceId],
    );
    expect(rows[0]).toMatchObject({ owner_id: user, name: "my-workspace", ttl: "3600000000000" });
    expect(rows[0].last_used_at.getTime()).toBeGreaterThanOrEqual(before.getTime());

    expect(
      await claimPrebuild(db.pool, { presetId: preset, userId: user, workspaceName: "second" }),
    ).toEqual({ status: "none_available", presetId: preset });
    const untouched = await db.pool.query("SELECT owner_id FROM workspaces WHERE id = $1", [
      notReady.workspaceId,
    ]);
    expect(untouched.rows[0]?.owner_id).not.toBe(user);
  });

  it("refuses a name the user already has, claiming nothing", async () => {
    const template = await seedTemplate(db.pool);
    const preset = await seedPreset(db.pool, { versionId: template.activeVersionId });
    const ready = await seedPrebuild(db.pool, { template, presetId: preset });
    const owner = (await seedUser(db.pool)).id;
    const taken = await seedWorkspace(db.pool, { template, ownerId: owner });
    const { rows } = await db.pool.query("SELECT name FROM workspaces WHERE id = $1", [taken]);
    const request = { presetId: preset, userId: owner, workspaceName: rows[0].name.toUpperCase() };
    await expect(claimPrebuild(db.pool, request)).rejects.toBeInstanceOf(WorkspaceNameTakenError);
    const still = await db.pool.query("SELECT owner_id FROM workspaces WHERE id = $1", [
      ready.workspaceId,
    ]);
    expect(still.rows[0]?.owner_id).not.toBe(owner);
  });

  it("names a user missing from the users table and the fix, claiming nothing", async () => {
    const template = await seedTemplate(db.pool);
    const preset = await seedPreset(db.pool, { versionId: template.activeVersionId });
    const ready = await seedPrebuild(db.pool, { template, presetId: preset });
    const stranger = randomUUID();
    const claim = claimPrebuild(db.pool, {
      presetId: preset,
      userId: stranger,
      workspaceName: "w",
    });
    await expect(claim).rejects.toBeInstanceOf(UnknownUserError);
    await expect(claim).rejects.toMatchObject({
      userId: stranger,
      message: `user ${stranger} is not in the users table: the platform must write its users into users (id, username) before claiming a prebuild for them`,
    });
    const still = await db.pool.query("SELECT owner_id FROM workspaces WHERE id = $1", [
      ready.workspaceId,
    ]);
    expect(still.rows[0]?.owner_id).not.toBe(stranger);
    // The prebuild is still there for a known user.
    expect(
      await claimPrebuild(db.pool, { presetId: preset, userId: user, workspaceName: "known" }),
    ).toMatchObject({ status: "claimed", workspaceId: ready.workspaceId });
  });

  it("refuses ids that are not UUIDs and an empty name before any query", async () => {
    await expect(
      claimPrebuild(db.pool, { presetId: "small", userId: user, workspaceName: "w" }),
    ).rejects.toThrow('presetId must be a UUID (got "small")');
    await expect(
      claimPrebuild(db.pool, { presetId: randomUUID(), userId: "alice", workspaceName: "w" }),
    ).rejects.toThrow('userId must be a UUID (got "alice")');
    await expect(
      claimPrebuild(db.pool, { presetId: randomUUID(), userId: user, workspaceName: " " }),
    ).rejects.toThrow("workspaceName must be 1 to 64 characters");
  });
});

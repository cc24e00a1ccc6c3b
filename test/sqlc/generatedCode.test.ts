// The committed src/db/sql/*_sql.ts must be exactly what generation gives for today's queries/
// and migrations/ (DESIGN.md §1): query text, parameter and column names, TypeScript types and
// nullability, return kind. Checked against the migrated schema on a live database; where sqlc
// is installed, also against sqlc's own output.
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { projectRoot } from "../../src/projectRoot.ts";
import { freshDatabase, type TestDatabase } from "../harness/freshDatabase.ts";
import { generateAll } from "./codegen.ts";
import { compareGenerated, readCommitted } from "./compareGenerated.ts";
import { GENERATED_DIR, QUERIES_DIR, sqlcOnPath } from "./generate.ts";
import { revertProjectAdaptations } from "./projectAdaptations.ts";

describe("generated query code", () => {
  let db: TestDatabase;
  let client: pg.PoolClient;
  let generated: Map<string, string>;
  const committed = readCommitted(GENERATED_DIR);

  beforeAll(async () => {
    db = await freshDatabase();
    client = await db.pool.connect();
    generated = await generateAll(client, QUERIES_DIR);
  });
  afterAll(async () => {
    client.release();
    await db.drop();
  });

  it("matches queries/ and migrations/ exactly, one file per queries file", () => {
    expect(compareGenerated(committed, generated)).toEqual([]);
  });

  it.skipIf(!sqlcOnPath())("passes `sqlc diff` (where sqlc is installed)", () => {
    // sqlc diff compares sqlc's output with the files on disk, so it runs on a copy of the project
    // holding the committed files with the two project adaptations undone.
    const dir = mkdtempSync(join(tmpdir(), "prebuildsd-sqlc-"));
    try {
      for (const entry of ["sqlc.yaml", "migrations", "queries"]) {
        cpSync(join(projectRoot, entry), join(dir, entry), { recursive: true });
      }
      const out = join(dir, "src", "db", "sql");
      mkdirSync(out, { recursive: true });
      for (const [file, contents] of committed) {
        writeFileSync(join(out, file), revertProjectAdaptations(contents));
      }
      const run = spawnSync("sqlc", ["diff"], { cwd: dir, encoding: "utf8" });
      expect(run.status, `${run.stdout}${run.stderr}`).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe("fails on drift (a test of the test)", () => {
    const queueFile = "queue_sql.ts";
    const committedQueue = () => committed.get(queueFile) ?? "";

    /** Regenerates from a copy of queries/ where queue.sql went through `edit`. */
    async function generateWithEditedQueue(edit: (sql: string) => string) {
      const dir = mkdtempSync(join(tmpdir(), "prebuildsd-queries-"));
      try {
        cpSync(QUERIES_DIR, dir, { recursive: true });
        const path = join(dir, "queue.sql");
        const before = readFileSync(path, "utf8");
        const after = edit(before);
        expect(after).not.toBe(before);
        writeFileSync(path, after);
        return await generateAll(client, dir);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }

    it("a committed file whose column type was changed by hand", () => {
      const edited = new Map(committed);
      edited.set(queueFile, committedQueue().replace("createdAt: Date;", "createdAt: string;"));
      expect(compareGenerated(edited, generated)).toEqual([
        expect.stringMatching(/queue_sql\.ts is stale or edited by hand.*createdAt: string/),
      ]);
    });

    it("a committed file whose nullability was dropped by hand", () => {
      const edited = new Map(committed);
      edited.set(
        queueFile,
        committedQueue().replace(
          "templateVersionPresetId: string | null;",
          "templateVersionPresetId: string;",
        ),
      );
      expect(compareGenerated(edited, generated)).toHaveLength(1);
    });

    it("a parameter renamed in the query", async () => {
      const fresh = await generateWithEditedQueue((sql) =>
        sql.replaceAll("@worker_id::uuid", "@worker::uuid"),
      );
      const problems = compareGenerated(committed, fresh);
      expect(problems).toEqual([expect.stringMatching(/queue_sql\.ts is stale/)]);
      expect(fresh.get(queueFile)).toContain("worker: string;");
    });

    it("a changed return kind", async () => {
      const fresh = await generateWithEditedQueue((sql) =>
        sql.replace(
          "-- name: GetWorkspaceBuildByJobID :one",
          "-- name: GetWorkspaceBuildByJobID :many",
        ),
      );
      expect(compareGenerated(committed, fresh)).toHaveLength(1);
      expect(fresh.get(queueFile)).toContain("Promise<GetWorkspaceBuildByJobIDRow[]>");
    });

    it("a queries file with no generated file, and a generated file with no queries file", async () => {
      const withoutQueue = new Map(committed);
      withoutQueue.delete(queueFile);
      expect(compareGenerated(withoutQueue, generated)).toEqual([
        expect.stringMatching(/queue_sql\.ts is missing/),
      ]);
      const extra = new Map(committed).set("orphan_sql.ts", "// Code generated by sqlc.\n");
      expect(compareGenerated(extra, generated)).toEqual([
        expect.stringMatching(/orphan_sql\.ts has no queries file/),
      ]);
    });

    it("a schema change that makes a returned column nullable", async () => {
      const other = await freshDatabase();
      const otherClient = await other.pool.connect();
      try {
        await otherClient.query(
          "ALTER TABLE workspace_builds ALTER COLUMN build_number DROP NOT NULL",
        );
        const fresh = await generateAll(otherClient, QUERIES_DIR);
        expect(compareGenerated(committed, fresh)).toContainEqual(
          expect.stringMatching(/queue_sql\.ts is stale/),
        );
        expect(fresh.get(queueFile)).toContain("buildNumber: number | null;");
      } finally {
        otherClient.release();
        await other.drop();
      }
    });
  });
});

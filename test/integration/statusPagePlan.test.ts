// The status page's "next cycle" column says what `prebuildsd plan` says, including creates the
// in-flight cap (PREBUILDS_MAX_INFLIGHT_JOBS, issue #13) holds back: a pool held back entirely
// used to read "nothing to do" while the daemon created nothing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { statusPageSource } from "../../src/daemon/statusPageState.ts";
import { seedPreset, seedTemplate } from "../fixtures/seed.ts";
import { freshDatabase, type TestDatabase } from "../harness/freshDatabase.ts";

const CONFIG = { backoffLookback: 3_600_000, failureHardLimit: 3, backoffInterval: 60_000 };

let db: TestDatabase;

beforeAll(async () => {
  db = await freshDatabase();
  const tpl = await seedTemplate(db.pool, { name: "web" });
  await seedPreset(db.pool, { versionId: tpl.activeVersionId, name: "small", desiredInstances: 2 });
  await seedPreset(db.pool, { versionId: tpl.activeVersionId, name: "large", desiredInstances: 2 });
});

afterAll(async () => {
  await db?.drop();
});

async function page(maxInflightJobs: number | null): Promise<string> {
  const source = statusPageSource(
    { pool: db.pool },
    { ...CONFIG, maxInflightJobs },
    {
      version: "test",
      ttlMs: 0,
      waitMs: 10_000,
    },
  );
  try {
    return await source.html();
  } finally {
    source.close();
  }
}

/** The text of every planned action on the page, tags stripped. */
function actions(html: string): string[] {
  return [...html.matchAll(/<li class="action"[^>]*>(.*?)<\/li>/g)].map((m) =>
    (m[1] as string).replace(/<[^>]*>/g, "").replaceAll("&#8212;", "—"),
  );
}

describe("status page plan column", () => {
  it("without a cap, shows each preset's create", async () => {
    const html = await page(null);
    expect(actions(html).map((a) => a.split(" — ")[0])).toEqual(["create 2", "create 2"]);
  });

  it("under the cap, shows 'create k of n (capped: …)', and a preset held back entirely is not 'nothing to do'", async () => {
    const html = await page(1);
    const summaries = actions(html)
      .map((a) => a.split(" — ")[0])
      .sort();
    expect(summaries).toEqual([
      "create 0 of 2 (capped: 0 of 1 jobs in flight)",
      "create 1 of 2 (capped: 0 of 1 jobs in flight)",
    ]);
    expect(actions(html).join("\n")).toContain(
      "PREBUILDS_MAX_INFLIGHT_JOBS holds its creates back",
    );
    expect(html).not.toContain("nothing to do");
  });
});

// The status page's "next cycle" column says what `prebuildsd plan` says, including creates the
// in-flight cap (PREBUILDS_MAX_INFLIGHT_JOBS, issue #13) holds back: a pool held back entirely
// used to read "nothing to do" while the daemon created nothing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { statusPageSource } from "../../src/daemon/statusPageState.ts";
import { recordReconciliationRun } from "../../src/reconciler/runs.ts";
import { seedPrebuild, seedPreset, seedTemplate } from "../fixtures/seed.ts";
import { freshDatabase, type TestDatabase } from "../harness/freshDatabase.ts";

const CONFIG = { backoffLookback: 3_600_000, failureHardLimit: 3, backoffInterval: 60_000 };

let db: TestDatabase;

beforeAll(async () => {
  db = await freshDatabase();
  const tpl = await seedTemplate(db.pool, { name: "web" });
  await seedPreset(db.pool, { versionId: tpl.activeVersionId, name: "small", desiredInstances: 2 });
  await seedPreset(db.pool, { versionId: tpl.activeVersionId, name: "large", desiredInstances: 2 });
  // Antagonist: another template with a non-default cancel policy and nothing to create.
  const api = await seedTemplate(db.pool, { name: "api" });
  await seedPreset(db.pool, { versionId: api.activeVersionId, name: "tiny", desiredInstances: 0 });
  await db.pool.query("UPDATE templates SET prebuild_cancel_policy = 'running' WHERE id = $1", [
    api.templateId,
  ]);
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
    // Only the antagonist (api, desired 0) has nothing to do.
    expect(html.match(/nothing to do/g)).toHaveLength(1);
  });

  it("says in Health how many creates the cap holds back, instead of 'All presets healthy'", async () => {
    const uncapped = await page(null);
    expect(uncapped).toContain("All presets healthy");
    expect(uncapped).not.toContain('id="held-back"');
    const html = await page(1);
    expect(html).not.toContain("All presets healthy");
    const health = html.slice(html.indexOf('<section id="health">'), html.indexOf("</section>"));
    expect(health.replace(/<[^>]*>/g, "")).toContain(
      "3 creates held back by the in-flight cap (0 of 1 jobs in flight), over 2 preset(s)",
    );
  });
});

describe("status page columns", () => {
  it("shows each preset's cancel policy, as plan and status do", async () => {
    const html = await page(null);
    const rows = [...html.matchAll(/<tr class="preset[^"]*">([\s\S]*?)<\/tr>/g)].map((m) =>
      (m[1] as string)
        .replace(/<[^>]*>/g, " ")
        .replace(/\s+/g, " ")
        .trim(),
    );
    expect(rows.filter((r) => r.startsWith("api ")).map((r) => r.split(" ").slice(0, 6))).toEqual([
      ["api", expect.any(String), "v1", "tiny", "healthy", "running"],
    ]);
    expect(rows.filter((r) => r.startsWith("web ")).map((r) => r.split(" ")[5])).toEqual([
      "pending",
      "pending",
    ]);
    expect(html).toContain("<th>Health</th><th>Cancel policy</th>");
  });

  it("shows each cycle's presets visited with its kind, the fleet, and the creates held back", async () => {
    await recordReconciliationRun(db.pool, {
      startedAt: new Date(Date.now() - 1000),
      finishedAt: new Date(),
      outcome: "completed",
      kind: "incremental",
      replica: "test",
      presetsTotal: 2,
      presetsReconciled: 2,
      createsHeldBack: 3,
      inflightJobs: 7,
      inflightCap: 10,
      keepRuns: 10,
    });
    const html = await page(null);
    const cycles = html.slice(html.indexOf('<table id="cycles">'));
    const row = (cycles.match(/<tr class="cycle completed">([\s\S]*?)<\/tr>/)?.[1] ?? "")
      .replace(/<[^>]*>/g, " ")
      .replace(/\s+/g, " ");
    expect(row).toContain(" 2 incremental ");
    expect(row).toContain("3 creates held back by the in-flight cap (7 of 10 jobs in flight)");
    expect(html).toContain("3 preset(s) in the fleet");
  });
});

describe("status page counts", () => {
  it("counts an old version's first builds in flight as starting, as plan does", async () => {
    const own = await freshDatabase();
    try {
      const tpl = await seedTemplate(own.pool, { name: "old", versions: 2 });
      const oldVersion = tpl.versionIds[0] as string;
      const presetId = await seedPreset(own.pool, {
        versionId: oldVersion,
        name: "small",
        desiredInstances: 2,
      });
      for (const state of ["pending", "building"] as const)
        await seedPrebuild(own.pool, { template: tpl, presetId, versionId: oldVersion, state });
      const source = statusPageSource(
        { pool: own.pool },
        { ...CONFIG, maxInflightJobs: null },
        {
          version: "test",
          ttlMs: 0,
          waitMs: 10_000,
        },
      );
      let html: string;
      try {
        html = await source.html();
      } finally {
        source.close();
      }
      const cells = (row: string) =>
        [...row.matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((m) =>
          (m[1] as string).replace(/<[^>]*>/g, "").trim(),
        );
      const rows = [...html.matchAll(/<tr class="preset[^"]*">([\s\S]*?)<\/tr>/g)].map((m) =>
        cells(m[1] as string),
      );
      // Template, Version, Preset, Health, Cancel policy, Desired, Running, Eligible, Starting.
      expect(rows.filter((r) => r[2] === "small").map((r) => r[8])).toEqual(["2"]);
    } finally {
      await own.drop();
    }
  });
});

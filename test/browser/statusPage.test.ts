/// <reference lib="dom" />
// The status page (`GET /`) as an operator sees it in a real browser: the pools, what needs them
// and the command that fixes it, the next cycle's actions with their reasons, the queue and the
// last cycles; hostile names stay text and do not break the layout; the page reloads itself.
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { statusPageSource } from "../../src/daemon/statusPageState.ts";
import { type HttpServer, startHttpServer } from "../../src/http/server.ts";
import { recordReconciliationRun } from "../../src/reconciler/runs.ts";
import {
  seedJob,
  seedPrebuild,
  seedPreset,
  seedTemplate,
  seedUser,
  setReconciliationPaused,
} from "../fixtures/seed.ts";
import { freshDatabase, type TestDatabase } from "../harness/freshDatabase.ts";
import { type Browser, launchChromium } from "./chromium.ts";

const CONFIG = { backoffLookback: 3_600_000, failureHardLimit: 3, backoffInterval: 60_000 };

const LONG = `long-${"x".repeat(4995)}`;
const HOSTILE = {
  long: LONG,
  emoji: "🚀 rocket ✨ 日本語",
  quotes: `it's "quoted" & 'single'`,
  // Template names are varchar(64); versions and presets are text.
  markup: `<img src=x onerror="window.__pwned=1"><b id="pwn">b</b>`,
  breakout: `</td></tr></table><h1 id="pwn2">escaped?</h1><script>window.__pwned=2</script>`,
  shortBreakout: `</td></tr></table><h1 id="pwn3">x</h1>`,
};

let db: TestDatabase;
let browser: Browser;
let page: Page;
let closers: (() => Promise<void> | void)[] = [];

/** A status page server; `refreshSeconds` long for the tests that read a page, 1 to watch it reload. */
async function serve(refreshSeconds: number): Promise<string> {
  const source = statusPageSource({ pool: db.pool }, CONFIG, {
    version: "9.9.9-test",
    ttlMs: 0,
    refreshSeconds,
  });
  const server: HttpServer = await startHttpServer(
    { host: "127.0.0.1", port: 0 },
    {
      metrics: async () => ({ contentType: "text/plain", body: "" }),
      readiness: async () => ({ ready: true, reason: "" }),
      statusPage: source.html,
    },
    () => {},
  );
  closers.push(source.close, server.close);
  return `http://${server.address}/`;
}

async function healthText(on: Page): Promise<string> {
  return (await on.locator("#health").textContent()) ?? "";
}

async function cellTexts(selector: string): Promise<string[][]> {
  return page.$$eval(selector, (rows) =>
    rows.map((row) => Array.from(row.querySelectorAll("td"), (td) => td.textContent ?? "")),
  );
}

/** The preset row whose preset cell is exactly `presetName`. */
async function presetRow(presetName: string): Promise<string[]> {
  const rows = await cellTexts("#presets tbody tr.preset");
  const row = rows.find((cells) => cells[2] === presetName);
  if (!row) throw new Error(`no row for preset ${presetName}; rows: ${JSON.stringify(rows)}`);
  return row;
}

beforeAll(async () => {
  db = await freshDatabase();
  const user = await seedUser(db.pool);

  // A healthy pool with one of everything: 2 running (1 ready), 1 starting, 1 deleting.
  const web = await seedTemplate(db.pool, { name: "web" });
  const small = await seedPreset(db.pool, {
    versionId: web.activeVersionId,
    name: "small",
    desiredInstances: 5,
  });
  await seedPrebuild(db.pool, { template: web, presetId: small, state: "running" });
  await seedPrebuild(db.pool, { template: web, presetId: small, state: "running", ready: false });
  await seedPrebuild(db.pool, { template: web, presetId: small, state: "pending" });
  await seedPrebuild(db.pool, { template: web, presetId: small, state: "deleting" });

  // Unhealthy presets, one per kind, under hostile template names.
  const quoted = await seedTemplate(db.pool, { name: HOSTILE.quotes });
  await seedPreset(db.pool, {
    versionId: quoted.activeVersionId,
    name: "limited",
    prebuildStatus: "hard_limited",
  });
  const marked = await seedTemplate(db.pool, { name: HOSTILE.markup });
  await seedPreset(db.pool, {
    versionId: marked.activeVersionId,
    name: "invalid",
    prebuildStatus: "validation_failed",
  });
  // Hostile preset names, each its own row.
  const hostile = await seedTemplate(db.pool, {
    name: HOSTILE.shortBreakout,
    versions: [`${HOSTILE.long}-version`],
  });
  for (const name of [HOSTILE.long, HOSTILE.emoji, HOSTILE.breakout]) {
    await seedPreset(db.pool, { versionId: hostile.activeVersionId, name, desiredInstances: 0 });
  }

  // Queue: two prebuild jobs and one user job waiting, one user job building.
  await seedJob(db.pool, { organizationId: web.organizationId });
  await seedJob(db.pool, { organizationId: web.organizationId });
  await seedJob(db.pool, { organizationId: web.organizationId, initiatorId: user.id });
  await seedJob(db.pool, {
    organizationId: web.organizationId,
    initiatorId: user.id,
    state: "running",
  });

  const at = (s: number) => new Date(Date.now() - s * 1000);
  await recordReconciliationRun(db.pool, {
    startedAt: at(130),
    finishedAt: at(129),
    outcome: "completed",
    replica: "host-a:1",
    presetsTotal: 6,
    presetsReconciled: 6,
    actionsSucceeded: 4,
    prebuildsCreated: 3,
    prebuildsDeleted: 1,
    jobsCanceled: 2,
    keepRuns: 100,
  });
  await recordReconciliationRun(db.pool, {
    startedAt: at(70),
    finishedAt: at(69),
    outcome: "failed",
    replica: HOSTILE.markup,
    error: `snapshot failed: ${HOSTILE.breakout}`,
    keepRuns: 100,
  });

  browser = await launchChromium();
  page = await browser.context.newPage();
  await page.goto(await serve(3600));
});

afterAll(async () => {
  await browser?.close();
  for (const close of closers.reverse()) await close();
  closers = [];
  await db?.drop();
});

describe("status page in Chromium", () => {
  it("shows each preset's desired, running, eligible, starting and deleting in its cells", async () => {
    expect(await page.title()).toBe("prebuildsd status");
    const row = await presetRow("small");
    expect(row.slice(0, 3).map((c) => c.trim())).toEqual([
      expect.stringMatching(/^web/),
      "v1",
      "small",
    ]);
    // Health, cancel policy (the default), then the counts.
    expect(row.slice(3, 10)).toEqual(["healthy", "pending", "5", "2", "1", "1", "1"]);
  });

  it("shows the next cycle's actions with their reasons", async () => {
    const row = await presetRow("small");
    expect(row[10]).toContain("create 2");
    expect(row[10]).toMatch(/— .*desired 5/);
    const idle = await presetRow(HOSTILE.emoji);
    expect(idle[10]).toBe("nothing to do");
  });

  it("names each unhealthy preset with the command that recovers it", async () => {
    const health = await healthText(page);
    expect(health).toContain(`${HOSTILE.quotes} / v1 / limited is hard-limited`);
    // The command is shell-quoted, so it can be pasted as shown.
    expect(health).toContain(`prebuildsd invalidate 'it'\\''s "quoted" & '\\''single'\\'''`);
    expect(health).toContain(`${HOSTILE.markup} / v1 / invalid failed validation`);
    expect(health).toContain("The last cycle failed: snapshot failed: </td></tr></table>");
    expect((await presetRow("limited"))[3]).toBe("hard limited");
  });

  it("shows the provisioner queue's depth", async () => {
    expect(await cellTexts("#queue tbody tr")).toEqual([
      // The seeded jobs, plus the "small" pool's pending start and pending delete.
      ["Waiting for a provisioner", "5", "4"],
      ["Building", "1", "0"],
    ]);
  });

  it("lists the last cycles newest first, errors included", async () => {
    const cycles = await cellTexts("#cycles tbody tr");
    expect(cycles.map((c) => c[1])).toEqual(["failed", "completed"]);
    expect(cycles[0]?.[3]).toBe(HOSTILE.markup);
    expect(cycles[0]?.[8]).toBe(`snapshot failed: ${HOSTILE.breakout}`);
    // Presets visited (the run recorded no kind), actions, effects, creates held back.
    expect(cycles[1]?.slice(4, 8)).toEqual(["6", "4 / 0 / 0", "3 / 1 / 2", "0"]);
  });

  it("keeps hostile names as text: no element or script comes from them", async () => {
    for (const name of [HOSTILE.long, HOSTILE.emoji, HOSTILE.breakout]) {
      expect((await presetRow(name))[2]).toBe(name);
    }
    const templates = (await cellTexts("#presets tbody tr.preset")).map((c) => c[0] ?? "");
    expect(templates.some((t) => t.startsWith(HOSTILE.markup))).toBe(true);
    expect(templates.some((t) => t.startsWith(HOSTILE.shortBreakout))).toBe(true);
    expect(await page.locator("#pwn, #pwn2, #pwn3, h1, img, script").count()).toBe(1); // our h1
    const versions = (await cellTexts("#presets tbody tr.preset")).map((c) => c[1] ?? "");
    expect(versions).toContain(`${HOSTILE.long}-version`);
    expect(await page.evaluate(() => (window as { __pwned?: number }).__pwned)).toBeUndefined();
    // Every preset row stayed inside the one table.
    expect(await page.locator("#presets tbody tr.preset").count()).toBe(6);
  });

  it("wraps a 5,000-character name instead of widening the page", async () => {
    const overflow = await page.evaluate(
      () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
    );
    expect(overflow).toBeLessThanOrEqual(0);
  });

  it("reloads itself and shows what changed in the database", async () => {
    const watched = await browser.context.newPage();
    await watched.goto(await serve(1));
    expect(await healthText(watched)).not.toContain("paused");
    await setReconciliationPaused(db.pool, true);
    // No reload from the test: the page's meta refresh brings the change.
    await watched.waitForFunction(
      () => document.querySelector("#health")?.textContent?.includes("Reconciliation is paused"),
      undefined,
      { timeout: 15_000 },
    );
    expect(await healthText(watched)).toContain("prebuildsd resume");
    // The first page, served with a long refresh, still shows what it read.
    expect(await healthText(page)).not.toContain("paused");
  });
});

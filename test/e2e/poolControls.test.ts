// The pool-control commands as an operator types them (issue #15), through the built binary:
// what they print, what `plan --json` and `status` show afterwards, and bad input that exits 2
// with one line and changes nothing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedPreset, seedTemplate } from "../fixtures/seed.ts";
import { freshDatabase, type TestDatabase } from "../harness/freshDatabase.ts";
import { cli } from "./cli.ts";

let db: TestDatabase;

beforeAll(async () => {
  db = await freshDatabase();
  const alpha = await seedTemplate(db.pool, { name: "alpha" });
  await seedPreset(db.pool, {
    versionId: alpha.activeVersionId,
    name: "small",
    desiredInstances: 2,
  });
  await seedPreset(db.pool, {
    versionId: alpha.activeVersionId,
    name: "large",
    desiredInstances: 1,
  });
  const beta = await seedTemplate(db.pool, { name: "beta" });
  await seedPreset(db.pool, {
    versionId: beta.activeVersionId,
    name: "small",
    desiredInstances: 1,
  });
});

afterAll(async () => {
  await db?.drop();
});

function run(...args: string[]) {
  return cli(args, { DATABASE_URL: db.url, PREBUILDS_LOG_LEVEL: "warn" });
}

interface JsonPreset {
  templateName: string;
  presetName: string;
  paused: boolean;
  pauseReason: string | null;
  desiredOverride: number | null;
  state: { desired: number };
  actions: unknown[];
}

async function planned(): Promise<Map<string, JsonPreset>> {
  const result = await run("plan", "--json");
  expect(result.code).toBe(0);
  const presets = (JSON.parse(result.stdout) as { presets: JsonPreset[] }).presets;
  return new Map(presets.map((p) => [`${p.templateName}/${p.presetName}`, p]));
}

/** Every row the controls write, and the change-tracking marks their triggers add. */
async function controlState(): Promise<string> {
  const r = await db.pool.query(`SELECT
    (SELECT json_agg(p ORDER BY p.template_id, p.preset_name) FROM prebuild_pauses p) AS pauses,
    (SELECT json_agg(o ORDER BY o.preset_id) FROM prebuild_desired_overrides o) AS overrides,
    (SELECT json_agg(f ORDER BY f.preset_id) FROM prebuild_failure_resets f) AS resets,
    (SELECT json_agg(r ORDER BY r.template_id) FROM prebuild_rollout_policies r) AS rollouts,
    (SELECT json_agg(s ORDER BY s.key) FROM site_configs s) AS settings,
    (SELECT count(*) FROM prebuild_marked_presets) AS dirty`);
  return JSON.stringify(r.rows[0]);
}

describe("pool controls on the command line", () => {
  it("pause --template, pause --preset, resume: printed, shown in plan --json and status", async () => {
    const paused = await run("pause", "--template", "alpha", "--preset", "small");
    expect(paused).toMatchObject({ code: 0, stderr: "" });
    expect(paused.stdout).toMatch(/^paused preset "small" of template "alpha"/);
    expect((await run("pause", "--template", "alpha", "--preset", "small")).stdout).toMatch(
      /was already paused: nothing changed/,
    );
    const plan = await planned();
    expect(plan.get("alpha/small")).toMatchObject({ paused: true, actions: [] });
    expect(plan.get("alpha/small")?.pauseReason).toMatch(
      /prebuildsd resume --template "alpha" --preset "small"/,
    );
    expect(plan.get("alpha/large")).toMatchObject({ paused: false, pauseReason: null });
    expect(plan.get("beta/small")).toMatchObject({ paused: false });
    const table = await run("plan");
    expect(table.stdout).toMatch(/CONTROLS/);
    expect(table.stdout).toMatch(/small +yes .*paused/);
    const status = await run("status");
    expect(status.stdout).toMatch(/paused: +[^ /]+\/alpha \/ small since /);
    const resumed = await run("resume", "--template", "alpha");
    expect(resumed.stdout).toMatch(/^resumed template "alpha" and its presets/);
    expect((await planned()).get("alpha/small")).toMatchObject({ paused: false });
  });

  it("scale sets and clears an override that plan --json shows", async () => {
    const scaled = await run("scale", "alpha", "5", "--preset", "small");
    expect(scaled.code).toBe(0);
    expect(scaled.stdout).toMatch(/small: configured 2 → override 5/);
    const plan = await planned();
    expect(plan.get("alpha/small")).toMatchObject({ desiredOverride: 5, state: { desired: 5 } });
    expect(plan.get("alpha/large")).toMatchObject({ desiredOverride: null, state: { desired: 1 } });
    expect(plan.get("beta/small")).toMatchObject({ desiredOverride: null, state: { desired: 1 } });
    expect((await run("status")).stdout).toMatch(
      /scaled: +[^ /]+\/alpha \/ small: 5 \(configured 2\)/,
    );
    const cleared = await run("scale", "alpha", "--clear");
    expect(cleared.stdout).toMatch(/small: override 5 → configured 2/);
    expect((await planned()).get("alpha/small")).toMatchObject({ desiredOverride: null });
  });

  it("reset names each preset and its former status", async () => {
    const reset = await run("reset", "alpha", "--preset", "large");
    expect(reset.code).toBe(0);
    expect(reset.stdout).toMatch(/reset 1 preset\(s\) of template "alpha"/);
  });

  it("rollout sets the strategy, says when nothing changed, and status lists it", async () => {
    const set = await run("rollout", "alpha", "surge");
    expect(set.code).toBe(0);
    expect(set.stdout).toMatch(/^template "alpha" now rolls out with surge/);
    expect((await run("rollout", "alpha", "surge")).stdout).toMatch(
      /already rolls out with surge: nothing changed/,
    );
    expect((await run("status")).stdout).toMatch(
      /rollout: +[^ /]+\/alpha \(surge; no rollout in progress\)/,
    );
    const json = JSON.parse((await run("plan", "--json")).stdout) as { rollouts: unknown[] };
    expect(json.rollouts).toEqual([]);
    expect((await run("rollout", "alpha", "replace")).stdout).toMatch(/now rolls out with replace/);
  });

  const bad: readonly (readonly [string, readonly string[], RegExp])[] = [
    [
      "a negative count",
      ["scale", "alpha", "-1"],
      /count must be a whole number from 0 to 1000 \(got "-1"\)/,
    ],
    ["a huge count", ["scale", "alpha", "1001"], /from 0 to 1000 \(got "1001"\)/],
    ["a fractional count", ["scale", "alpha", "2.5"], /got "2\.5"/],
    ["no count", ["scale", "alpha"], /scale needs a count/],
    ["a count and --clear", ["scale", "alpha", "2", "--clear"], /not both/],
    ["an unknown template", ["scale", "nope", "2"], /no template is named or has the id "nope"/],
    [
      "an unknown preset",
      ["scale", "alpha", "2", "--preset", "huge"],
      /no preset with prebuilds named or with the id "huge"/,
    ],
    ["--preset without --template", ["pause", "--preset", "small"], /--preset needs --template/],
    ["pause of an unknown template", ["pause", "--template", "nope"], /no template is named/],
    [
      "resume of an unknown preset",
      ["resume", "--template", "alpha", "--preset", "huge"],
      /no preset with prebuilds named/,
    ],
    ["reset of an unknown template", ["reset", "nope"], /no template is named/],
    [
      "an unknown rollout strategy",
      ["rollout", "alpha", "sideways"],
      /rollout strategy must be replace or surge \(got "sideways"\)/,
    ],
    ["rollout of an unknown template", ["rollout", "nope", "surge"], /no template is named/],
  ];

  it.each(bad)("exits 2 with one line and changes nothing: %s", async (_name, args, message) => {
    const before = await controlState();
    const result = await run(...args);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
    expect(result.stderr).toMatch(message);
    expect(await controlState()).toBe(before);
  });
});

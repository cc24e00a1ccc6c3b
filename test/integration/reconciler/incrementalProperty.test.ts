// Incremental cycles equal full cycles (issue #16), as a property. Two databases start identical
// (one cloned from the other after seeding); the same random events happen to both (creates by
// the cycles themselves, job completions and failures, claims, promotions and deprecations,
// invalidations, desired-count edits, clock advances across schedule hours and backoffs, and
// events committed by another session while a cycle runs, between its read and its bookkeeping).
// After each event one cycle runs on each: incremental on `inc`, a full resync on `full`. After
// every cycle their prebuilds must be the same, preset by preset: same count of workspaces in each
// state (owner, deleted, deleting, latest build's number, transition and job status), and the same
// preset statuses. Ids, names and timestamps differ between the two and are not compared.
//
// What this cannot see: a TTL expiry. Writes re-check expiry at the database's clock, which the
// test does not move (it moves the clock the cycles plan at), so an expired prebuild is planned
// for deletion in both and deleted in neither; the TTL wake-up is tested in incremental.test.ts.
import { randomBytes, randomUUID } from "node:crypto";
import fc from "fast-check";
import pg from "pg";
import { describe, expect, inject, it } from "vitest";
import { claimPrebuiltWorkspace } from "../../../src/db/sql/queue_sql.ts";
import type { PlannedPreset } from "../../../src/plan/index.ts";
import { reconcileOnce } from "../../../src/reconciler/reconcileOnce.ts";
import type { CycleReport } from "../../../src/reconciler/report.ts";
import {
  promoteVersion,
  type SeededTemplate,
  seedAgents,
  seedOrganization,
  seedPrebuild,
  seedPreset,
  seedSchedule,
  seedTemplate,
  seedUser,
} from "../../fixtures/seed.ts";
import { databaseUrl } from "../../harness/databaseUrl.ts";
import { PREBUILDS } from "./fixtures.ts";
import { makeDeps } from "./reconcilerHarness.ts";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

// ---------------------------------------------------------------------------------------------
// Two identical databases.

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: inject("adminUrl") });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

interface Twin {
  readonly name: string;
  readonly pool: pg.Pool;
}

function openPool(name: string): pg.Pool {
  const pool = new pg.Pool({ connectionString: databaseUrl(inject("adminUrl"), name), max: 12 });
  pool.on("error", () => {});
  return pool;
}

/** Two migrated databases with the same rows (same ids): `seed` runs once, then a clone. */
async function twins<S>(seed: (pool: pg.Pool) => Promise<S>): Promise<{
  readonly inc: Twin;
  readonly full: Twin;
  readonly seeded: S;
  readonly drop: () => Promise<void>;
}> {
  const suffix = randomBytes(5).toString("hex");
  const incName = `prebuildsd_t_inc_${suffix}`;
  const fullName = `prebuildsd_t_full_${suffix}`;
  await admin(`CREATE DATABASE ${incName} TEMPLATE ${inject("templateDatabase")}`);
  const seeding = openPool(incName);
  let seeded: S;
  try {
    seeded = await seed(seeding);
  } finally {
    await seeding.end();
  }
  await admin(`CREATE DATABASE ${fullName} TEMPLATE ${incName}`);
  const inc = { name: incName, pool: openPool(incName) };
  const full = { name: fullName, pool: openPool(fullName) };
  return {
    inc,
    full,
    seeded,
    drop: async () => {
      for (const twin of [inc, full]) {
        await twin.pool.end();
        await admin(`DROP DATABASE IF EXISTS ${twin.name} WITH (FORCE)`);
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The fleet: three templates, two versions each, presets on both versions; one preset with an
// every-other-hour schedule (UTC) and a TTL, one template that never changes (an antagonist).
// Template t1 rolls out with `surge` (issue #15) and is seeded mid-rollout: promoted from v1 (one
// ready prebuild) to v2, whose preset has v1's preset's name, so an incremental cycle must read a
// changed preset's partner (and promotions back and forth start new rollouts).

interface Fleet {
  readonly templates: readonly { readonly id: string; readonly versions: readonly string[] }[];
  /** Index i: preset i; its template is presetTemplate[i]. */
  readonly presets: readonly string[];
  readonly presetTemplate: readonly number[];
  readonly user: string;
}

async function seedFleet(pool: pg.Pool): Promise<Fleet> {
  const organizationId = (await seedOrganization(pool)).id;
  const user = (await seedUser(pool)).id;
  const seededTemplates: SeededTemplate[] = [];
  const presets: string[] = [];
  const presetTemplate: number[] = [];
  const shapes = [
    // [desired on v1 presets], [desired on v2 presets]
    [
      [2, 1],
      [2, 1],
    ],
    [[1], [2]],
    [[1], []],
  ];
  for (const [ti, [v1, v2]] of shapes.entries()) {
    const t = await seedTemplate(pool, {
      organizationId,
      versions: 2,
      activeVersion: 0,
      name: `t${ti}`,
    });
    seededTemplates.push(t);
    const [first, second] = t.versionIds;
    if (first === undefined || second === undefined) throw new Error("seedTemplate: 2 versions");
    for (const [vi, desired] of [
      ...(v1 ?? []).map((d) => [0, d] as const),
      ...(v2 ?? []).map((d) => [1, d] as const),
    ]) {
      const scheduled = presets.length === 1;
      const id = await seedPreset(pool, {
        versionId: vi === 0 ? first : second,
        desiredInstances: desired,
        name: ti === SURGE_TEMPLATE ? "surge-pair" : `p${presets.length}`,
        ...(scheduled && { schedulingTimezone: "UTC", invalidateAfterSecs: 1800 }),
      });
      if (scheduled)
        await seedSchedule(pool, { presetId: id, cron: "* */2 * * *", desiredInstances: 3 });
      presets.push(id);
      presetTemplate.push(ti);
    }
  }
  const surge = seededTemplates[SURGE_TEMPLATE];
  const surgeOld = presets[presetTemplate.indexOf(SURGE_TEMPLATE)];
  if (surge === undefined || surgeOld === undefined)
    throw new Error("seedFleet: no surge template");
  await pool.query(
    "INSERT INTO prebuild_rollout_policies (template_id, strategy) VALUES ($1, 'surge')",
    [surge.templateId],
  );
  await seedPrebuild(pool, { template: surge, presetId: surgeOld });
  await promoteVersion(pool, surge.templateId, surge.versionIds[1] ?? "");
  const templates = seededTemplates.map((s) => ({ id: s.templateId, versions: s.versionIds }));
  return { templates, presets, presetTemplate, user };
}

// ---------------------------------------------------------------------------------------------
// Events.

type Event =
  | {
      readonly kind: "complete";
      readonly preset: number;
      readonly nth: number;
      readonly ok: boolean;
      /** A succeeded start's agent is ready at once, or later (agentReady). */
      readonly ready: boolean;
    }
  | { readonly kind: "claim"; readonly preset: number }
  | { readonly kind: "promote"; readonly template: number; readonly version: number }
  | { readonly kind: "deprecate"; readonly template: number; readonly on: boolean }
  | { readonly kind: "invalidate"; readonly preset: number }
  | { readonly kind: "desired"; readonly preset: number; readonly desired: number }
  | { readonly kind: "agentReady"; readonly preset: number; readonly nth: number }
  | { readonly kind: "clock"; readonly minutes: number };

/** An event; whether another session commits it while the incremental cycle runs; whether the
 *  builds of its template fail to insert during the cycles that follow it (action failures, to be
 *  retried by the next cycle). */
interface Step {
  readonly event: Event;
  readonly concurrent: boolean;
  readonly breakWrites: boolean;
}

const PRESETS = 6;
const TEMPLATES = 3;
/** The template rolling out with surge: presets 4 (v1) and 5 (v2) share a name. */
const SURGE_TEMPLATE = 1;

const eventArb: fc.Arbitrary<Event> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("complete" as const),
      preset: fc.nat(PRESETS - 1),
      nth: fc.nat(3),
      ok: fc.nat(3).map((n) => n > 0),
      ready: fc.nat(3).map((n) => n > 0),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("agentReady" as const),
      preset: fc.nat(PRESETS - 1),
      nth: fc.nat(3),
    }),
  },

  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant("claim" as const), preset: fc.nat(PRESETS - 1) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("promote" as const),
      template: fc.nat(TEMPLATES - 1),
      version: fc.nat(1),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("deprecate" as const),
      template: fc.nat(TEMPLATES - 1),
      on: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("invalidate" as const), preset: fc.nat(PRESETS - 1) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("desired" as const),
      preset: fc.nat(PRESETS - 1),
      desired: fc.nat(3),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("clock" as const),
      minutes: fc.integer({ min: 1, max: 50 }),
    }),
  },
);

const stepArb: fc.Arbitrary<Step> = fc.record({
  event: eventArb,
  concurrent: fc.boolean(),
  breakWrites: fc.nat(2).map((n) => n === 0),
});

/** The template an event writes to (null: the clock, nothing written; a claim may write to any
 *  template, see `apply`, and counts as its first choice's). */
function templateOf(fleet: Fleet, event: Event): number | null {
  switch (event.kind) {
    case "clock":
      return null;
    case "promote":
    case "deprecate":
      return event.template;
    default:
      return fleet.presetTemplate[event.preset] ?? null;
  }
}

/** Until `mendWrites`: every build of the template fails to insert (the cycle's actions fail). */
async function breakWrites(pool: pg.Pool, fleet: Fleet, template: number): Promise<void> {
  const versions = fleet.templates[template]?.versions ?? [];
  await pool.query(
    `CREATE FUNCTION test_break_writes() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       IF NEW.template_version_id IN ('${versions.join("', '")}') THEN
         RAISE EXCEPTION 'injected: builds of this template fail';
       END IF;
       RETURN NEW;
     END $$;
     CREATE TRIGGER test_break_writes BEFORE INSERT ON workspace_builds
       FOR EACH ROW EXECUTE FUNCTION test_break_writes();`,
  );
}

async function mendWrites(pool: pg.Pool): Promise<void> {
  await pool.query(
    "DROP TRIGGER test_break_writes ON workspace_builds; DROP FUNCTION test_break_writes();",
  );
}

/** Claims that found a prebuild (both databases), for the test's own sanity check. */
let claimsMade = 0;

/** Applies `event` to one database (the clock is shared and moved by the caller). */
async function apply(pool: pg.Pool, fleet: Fleet, event: Event): Promise<void> {
  switch (event.kind) {
    case "clock":
      return;
    case "agentReady":
      // Every not-ready agent of the nth batch of the preset's builds (see "complete").
      await pool.query(
        `WITH batches AS (
           SELECT DISTINCT wb.created_at, wb.transition
           FROM workspace_agents wa
           JOIN workspace_resources wr ON wr.id = wa.resource_id
           JOIN workspace_builds wb ON wb.job_id = wr.job_id
           WHERE wb.template_version_preset_id = $1 AND wa.lifecycle_state <> 'ready'
         ),
         batch AS (
           SELECT * FROM batches ORDER BY created_at, transition
           OFFSET $2 % GREATEST(1, (SELECT count(*) FROM batches)) LIMIT 1
         )
         UPDATE workspace_agents SET lifecycle_state = 'ready' WHERE id IN (
           SELECT wa.id FROM workspace_agents wa
           JOIN workspace_resources wr ON wr.id = wa.resource_id
           JOIN workspace_builds wb ON wb.job_id = wr.job_id
           JOIN batch b ON b.created_at = wb.created_at AND b.transition = wb.transition
           WHERE wb.template_version_preset_id = $1 AND wa.lifecycle_state <> 'ready')`,
        [fleet.presets[event.preset], event.nth],
      );
      return;
    case "complete": {
      // The nth batch of the preset's in-flight jobs, oldest first: the builds one statement
      // created share their created_at, and the product ranks builds by created_at (backoff, hard
      // limit, oldest-first deletes) with ties in no particular order, so a batch always moves
      // together; then its members never differ in anything the cycles or the comparison see.
      const jobs = await pool.query<{ id: string; transition: string; workspace_id: string }>(
        `WITH inflight AS (
           SELECT pj.id, wb.transition, wb.workspace_id, wb.created_at
           FROM provisioner_jobs pj JOIN workspace_builds wb ON wb.job_id = pj.id
           WHERE wb.template_version_preset_id = $1 AND pj.job_status IN ('pending', 'running')
         ),
         batches AS (SELECT DISTINCT created_at, transition FROM inflight),
         batch AS (
           SELECT * FROM batches ORDER BY created_at, transition
           OFFSET $2 % GREATEST(1, (SELECT count(*) FROM batches)) LIMIT 1
         )
         SELECT i.id, i.transition, i.workspace_id
         FROM inflight i JOIN batch b ON b.created_at = i.created_at AND b.transition = i.transition`,
        [fleet.presets[event.preset], event.nth],
      );
      for (const job of jobs.rows) {
        await pool.query(
          `UPDATE provisioner_jobs SET started_at = now(), completed_at = now(), updated_at = now(),
             worker_id = gen_random_uuid(), error = CASE WHEN $2 THEN NULL ELSE 'injected failure' END
           WHERE id = $1`,
          [job.id, event.ok],
        );
        if (event.ok && job.transition === "start") {
          await seedAgents(pool, job.id, [{ lifecycle: event.ready ? "ready" : "starting" }]);
        }
        if (event.ok && job.transition === "delete") {
          await pool.query("UPDATE workspaces SET deleted = true WHERE id = $1", [
            job.workspace_id,
          ]);
        }
      }
      return;
    }
    case "claim":
      // A user asks for the preset; when it has no ready prebuild, for the next one that has.
      for (let k = 0; k < PRESETS; k++) {
        const claimed = await claimPrebuiltWorkspace(pool, {
          allowPreviousVersion: false,
          newUserId: fleet.user,
          newName: `claimed-${randomUUID().slice(0, 8)}`,
          now: null,
          autostartSchedule: null,
          nextStartAt: null,
          ttl: null,
          presetId: fleet.presets[(event.preset + k) % PRESETS] ?? "",
        });
        if (claimed !== null) {
          claimsMade++;
          return;
        }
      }
      return;
    case "promote": {
      const t = fleet.templates[event.template];
      if (t === undefined) return;
      await promoteVersion(pool, t.id, t.versions[event.version] ?? "");
      return;
    }
    case "deprecate":
      await pool.query("UPDATE templates SET deprecated = $2 WHERE id = $1", [
        fleet.templates[event.template]?.id,
        event.on ? "use t-next" : "",
      ]);
      return;
    case "invalidate":
      await pool.query(
        "UPDATE template_version_presets SET last_invalidated_at = now() WHERE id = $1",
        [fleet.presets[event.preset]],
      );
      return;
    case "desired":
      await pool.query("UPDATE template_version_presets SET desired_instances = $2 WHERE id = $1", [
        fleet.presets[event.preset],
        event.desired,
      ]);
      return;
  }
}

// ---------------------------------------------------------------------------------------------
// What is compared.

async function state(pool: pg.Pool): Promise<{ prebuilds: string[]; presets: string[] }> {
  const prebuilds = await pool.query<{ row: string }>(
    `SELECT concat_ws(' ', tvp.name || '@' || tvp.template_version_id,
       CASE WHEN w.owner_id = $1 THEN 'unclaimed' ELSE 'claimed' END,
       CASE WHEN w.deleted THEN 'deleted' END, CASE WHEN w.deleting_at IS NOT NULL THEN 'deleting' END,
       '#' || lb.build_number, lb.transition, pj.job_status) AS row
     FROM workspaces w
     JOIN workspace_builds fb ON fb.workspace_id = w.id AND fb.build_number = 1
     JOIN template_version_presets tvp ON tvp.id = fb.template_version_preset_id
     JOIN LATERAL (
       SELECT b.build_number, b.transition, b.job_id FROM workspace_builds b
       WHERE b.workspace_id = w.id ORDER BY b.build_number DESC LIMIT 1
     ) lb ON true
     JOIN provisioner_jobs pj ON pj.id = lb.job_id
     ORDER BY 1`,
    [PREBUILDS],
  );
  const presets = await pool.query<{ row: string }>(
    `SELECT concat_ws(' ', name || '@' || template_version_id, prebuild_status, desired_instances) AS row
     FROM template_version_presets ORDER BY 1`,
  );
  return { prebuilds: prebuilds.rows.map((r) => r.row), presets: presets.rows.map((r) => r.row) };
}

// ---------------------------------------------------------------------------------------------

describe("incremental cycles, as a property", () => {
  it("leave the database as full cycles do, after every cycle, whatever happens between and during them", async () => {
    let incrementalCycles = 0;
    let incrementalCyclesThatRead = 0;
    let concurrentWrites = 0;
    let writesBroken = 0;
    let failedActions = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 6, maxLength: 14 }), async (steps) => {
        const { inc, full, seeded: fleet, drop } = await twins(seedFleet);
        try {
          let clock = new Date(Math.floor(Date.now() / HOUR) * HOUR + 50 * MINUTE);
          const options = {
            planAt: () => clock,
            backoffInterval: 10 * MINUTE,
            backoffLookback: 2 * HOUR,
            // The surge rollout's bound: some runs' clock advances cross it (its wake-up).
            rolloutMaxWait: HOUR,
          };
          // No periodic resync on `inc`: every cycle after the first (the migration's NULL mark)
          // is incremental. `full` resyncs every cycle.
          const incDeps = makeDeps(inc.pool, {
            options: { ...options, fullResyncInterval: 1000 * 24 * HOUR },
          });
          const fullDeps = makeDeps(full.pool, { options: { ...options, fullResyncInterval: 0 } });
          const compare = async (step: number, reports: readonly CycleReport[]) => {
            const [a, b] = await Promise.all([state(inc.pool), state(full.pool)]);
            expect({ step, steps, ...a, kinds: reports.map((r) => r.kind) }).toEqual({
              step,
              steps,
              ...b,
              kinds: [step === 0 ? "full" : "incremental", "full"],
            });
          };
          await compare(0, [await reconcileOnce(incDeps), await reconcileOnce(fullDeps)]);
          for (const [i, { event, concurrent, breakWrites: broken }] of steps.entries()) {
            if (event.kind === "clock") clock = new Date(clock.getTime() + event.minutes * MINUTE);
            const brokenTemplate = broken ? templateOf(fleet, event) : null;
            if (brokenTemplate !== null) {
              await breakWrites(inc.pool, fleet, brokenTemplate);
              await breakWrites(full.pool, fleet, brokenTemplate);
              writesBroken++;
            }
            let report: CycleReport;
            let applied = true;
            if (concurrent && templateOf(fleet, event) !== null) {
              // Committed by another session after the incremental cycle's read, while it acts,
              // unless the event's template has work in that cycle (then the writes would race
              // each other, which is the write guards' business, not this test's).
              let write: Promise<void> | undefined;
              const template = templateOf(fleet, event);
              report = await reconcileOnce(
                makeDeps(inc.pool, {
                  options: incDeps.options ?? {},
                  observer: {
                    onPlanned: (planned: readonly PlannedPreset[]) => {
                      const busy = planned.some(
                        (p) =>
                          p.plan.actions.length > 0 &&
                          (event.kind === "claim" ||
                            fleet.presetTemplate[fleet.presets.indexOf(p.preset.presetId)] ===
                              template),
                      );
                      applied = !busy;
                      if (applied) write = apply(inc.pool, fleet, event);
                    },
                  },
                }),
              );
              await write;
              if (applied) concurrentWrites++;
              const fullReport = await reconcileOnce(fullDeps);
              if (applied) await apply(full.pool, fleet, event);
              await compare(i + 1, [report, fullReport]);
            } else {
              await apply(inc.pool, fleet, event);
              await apply(full.pool, fleet, event);
              report = await reconcileOnce(incDeps);
              await compare(i + 1, [report, await reconcileOnce(fullDeps)]);
            }
            if (brokenTemplate !== null) {
              await mendWrites(inc.pool);
              await mendWrites(full.pool);
              // With nothing else happening, the next cycle must retry what failed.
              const retry = await reconcileOnce(incDeps);
              await compare(i + 1, [retry, await reconcileOnce(fullDeps)]);
            }
            incrementalCycles++;
            failedActions += report.failures;
            if (report.presetsTotal > 0) incrementalCyclesThatRead++;
          }
        } finally {
          await drop();
        }
      }),
      { numRuns: 14, endOnFailure: true },
    );
    // The runs exercised what they claim to: incremental cycles that read something (and some
    // that read nothing), and concurrent writes.
    process.stdout.write(
      `incremental property: ${incrementalCycles} incremental cycles (${incrementalCyclesThatRead} read presets, ${failedActions} failed actions in ${writesBroken} cycles with broken writes), ${concurrentWrites} concurrent writes, ${claimsMade} claims\n`,
    );
    expect(incrementalCyclesThatRead).toBeGreaterThan(0);
    expect(incrementalCyclesThatRead).toBeLessThan(incrementalCycles);
    expect(concurrentWrites).toBeGreaterThan(0);
    // Failed actions and claims depend on the draw (printed above; typically a few of each).
  }, 120_000);
});

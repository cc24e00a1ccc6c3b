// The queue-flood promotion scenario (the reason CancelPending exists): four simulated provisioners,
// each job 200 ms, three presets wanting 100 prebuilds in total, so the first cycle floods the
// queue. Right after that first cycle a new version is promoted. The scenario runs twice on fresh
// databases, with CancelPending on and off, and samples queue depth and pool sizes over time.
import pg from "pg";
import { createPool } from "../src/db/pool.ts";
import { silentLogger } from "../src/observe/logger.ts";
import type { CancelPolicy } from "../src/plan/index.ts";
import { PREBUILDS_SYSTEM_USER_ID } from "../src/prebuildsUser.ts";
import { SimulatedProvisioner } from "../src/provisioner/simulatedProvisioner.ts";
import { type CycleReport, reconcileOnce } from "../src/reconciler/index.ts";
import type { BenchServer } from "./benchServer.ts";

export interface FloodOptions {
  readonly provisioners: number;
  readonly jobDurationMs: number;
  /** Desired instances of the three presets (old and new version alike). */
  readonly desired: readonly number[];
  readonly intervalMs: number;
  readonly sampleEveryMs: number;
  /** Give up waiting for the new pools after this long. */
  readonly timeoutMs: number;
  readonly log: (line: string) => void;
}

export const DEFAULT_FLOOD: Omit<FloodOptions, "log"> = {
  provisioners: 4,
  jobDurationMs: 200,
  desired: [34, 33, 33],
  intervalMs: 500,
  sampleEveryMs: 100,
  timeoutMs: 120_000,
};

export interface FloodSample {
  /** Seconds since the first cycle started. */
  readonly t: number;
  /** Jobs nobody has started, canceled or completed. */
  readonly queued: number;
  readonly queuedOld: number;
  readonly runningJobs: number;
  /** Running prebuilds (latest build a succeeded start) of each version. */
  readonly poolOld: number;
  readonly poolNew: number;
  /** Presets of the new version still short of their desired pool. */
  readonly newPresetsShort: number;
}

export interface FloodRun {
  readonly variant: string;
  readonly cancelPending: boolean;
  /** CancelPending's orphan deletes were completed at once instead of queued for a provisioner. */
  readonly orphanDeletesAtOnce: boolean;
  /** Seconds (since the first cycle started) of the promotion and of the promotion cycle's end. */
  readonly promotedAt: number;
  readonly promotionCycleEndedAt: number;
  /** Old-version start (create) jobs a provisioner started after the promotion cycle ended. */
  readonly oldStartJobsStartedAfterPromotionCycle: number;
  /** Old-version jobs started after the promotion itself (during the promotion cycle included). */
  readonly oldStartJobsStartedAfterPromotion: number;
  /** Provisioner-seconds spent on old-version jobs after the promotion, by transition. */
  readonly oldProvisionerSeconds: { readonly start: number; readonly delete: number };
  readonly jobsCanceled: number;
  /** Seconds from the promotion until every new preset had its full pool (null: timed out). */
  readonly newPoolFullAfterS: number | null;
  /** Seconds from the promotion until the old version had no prebuild left and the queue was empty. */
  readonly settledAfterS: number | null;
  readonly cycles: number;
  readonly cycleMsMedian: number;
  readonly samples: readonly FloodSample[];
}

const OLD = "00000000-0000-4000-8000-0000000000a1";
const NEW = "00000000-0000-4000-8000-0000000000a2";
const TEMPLATE = "00000000-0000-4000-8000-0000000000f1";
const ORG = "00000000-0000-4000-8000-0000000000e1";
const OTHER_TEMPLATE = "00000000-0000-4000-8000-0000000000f2";
const OTHER_VERSION = "00000000-0000-4000-8000-0000000000b1";

async function seed(client: pg.Client, desired: readonly number[]): Promise<void> {
  await client.query("BEGIN");
  await client.query("INSERT INTO organizations (id, name) VALUES ($1, 'flood')", [ORG]);
  await client.query(
    `INSERT INTO templates (id, organization_id, name, active_version_id) VALUES
       ($1, $3, 'flooded', $4), ($2, $3, 'bystander', $5)`,
    [TEMPLATE, OTHER_TEMPLATE, ORG, OLD, OTHER_VERSION],
  );
  await client.query(
    `INSERT INTO template_versions (id, template_id, organization_id, name, created_at) VALUES
       ($1, $3, $4, 'v1', now() - interval '1 day'), ($2, $3, $4, 'v2', now()),
       ($5, $6, $4, 'v1', now() - interval '1 day')`,
    [OLD, NEW, TEMPLATE, ORG, OTHER_VERSION, OTHER_TEMPLATE],
  );
  // The same three presets on both versions; a bystander template whose preset wants no prebuilds.
  await client.query(
    `INSERT INTO template_version_presets (template_version_id, name, desired_instances)
     SELECT v, 'preset-' || i, ($1::int[])[i]
     FROM unnest(ARRAY[$2, $3]::uuid[]) AS v, generate_series(1, array_length($1::int[], 1)) AS i
     UNION ALL SELECT $4::uuid, 'no-prebuilds', NULL`,
    [desired, OLD, NEW, OTHER_VERSION],
  );
  await client.query("COMMIT");
}

async function sample(client: pg.Client, t: number): Promise<FloodSample> {
  const { rows } = await client.query<Omit<FloodSample, "t">>(
    `WITH latest AS (
       SELECT DISTINCT ON (wb.workspace_id) wb.workspace_id, wb.template_version_id, wb.transition, pj.job_status
       FROM workspace_builds wb
       JOIN provisioner_jobs pj ON pj.id = wb.job_id
       JOIN workspaces w ON w.id = wb.workspace_id
       WHERE w.owner_id = $1 AND NOT w.deleted
       ORDER BY wb.workspace_id, wb.build_number DESC)
     SELECT
       (SELECT count(*) FROM provisioner_jobs
         WHERE started_at IS NULL AND canceled_at IS NULL AND completed_at IS NULL)::int AS queued,
       (SELECT count(*) FROM provisioner_jobs pj JOIN workspace_builds wb ON wb.job_id = pj.id
         WHERE pj.started_at IS NULL AND pj.canceled_at IS NULL AND pj.completed_at IS NULL
           AND wb.template_version_id = $2)::int AS "queuedOld",
       (SELECT count(*) FROM provisioner_jobs WHERE started_at IS NOT NULL AND completed_at IS NULL)::int AS "runningJobs",
       (SELECT count(*) FROM latest WHERE template_version_id = $2 AND transition = 'start' AND job_status = 'succeeded')::int AS "poolOld",
       (SELECT count(*) FROM latest WHERE template_version_id = $3 AND transition = 'start' AND job_status = 'succeeded')::int AS "poolNew",
       (SELECT count(*) FROM template_version_presets p
         WHERE p.template_version_id = $3
           AND p.desired_instances > (
             SELECT count(*) FROM workspace_prebuilds wp
             JOIN workspace_latest_builds lb ON lb.workspace_id = wp.id
             WHERE wp.current_preset_id = p.id AND lb.transition = 'start' AND lb.job_status = 'succeeded'))::int
         AS "newPresetsShort"`,
    [PREBUILDS_SYSTEM_USER_ID, OLD, NEW],
  );
  const row = rows[0];
  if (!row) throw new Error("flood sample: no row");
  return { t, ...row };
}

/** Old-version jobs after an instant, read from the jobs themselves (not from counters). */
async function oldVersionWork(client: pg.Client, promotedAt: Date, promotionCycleEnd: Date) {
  const { rows } = await client.query<{
    startsAfterCycle: number;
    startsAfterPromotion: number;
    startSeconds: number;
    deleteSeconds: number;
  }>(
    `SELECT
       count(*) FILTER (WHERE wb.transition = 'start' AND pj.started_at > $3)::int AS "startsAfterCycle",
       count(*) FILTER (WHERE wb.transition = 'start' AND pj.started_at > $2)::int AS "startsAfterPromotion",
       COALESCE(sum(EXTRACT(EPOCH FROM pj.completed_at - greatest(pj.started_at, $2)))
         FILTER (WHERE wb.transition = 'start'), 0)::float8 AS "startSeconds",
       COALESCE(sum(EXTRACT(EPOCH FROM pj.completed_at - greatest(pj.started_at, $2)))
         FILTER (WHERE wb.transition = 'delete'), 0)::float8 AS "deleteSeconds"
     FROM provisioner_jobs pj
     JOIN workspace_builds wb ON wb.job_id = pj.id
     WHERE wb.template_version_id = $1 AND pj.started_at IS NOT NULL AND pj.worker_id IS NOT NULL
       AND pj.completed_at > $2`,
    [OLD, promotedAt, promotionCycleEnd],
  );
  const row = rows[0];
  if (!row) throw new Error("old version work: no row");
  return row;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** One run of the scenario: CancelPending on or off, and (issue #13) the flooded template's cancel
 *  policy, the in-flight cap and whether never-provisioned orphan deletes are free. */
export interface Variant {
  readonly name: string;
  readonly label: string;
  readonly cancelPending: boolean;
  readonly orphanDeletesAtOnce: boolean;
  /** The flooded template's cancel policy (default "pending"). */
  readonly policy?: CancelPolicy;
  /** PREBUILDS_MAX_INFLIGHT_JOBS (default: no cap). */
  readonly maxInflightJobs?: number;
  /** false: never-provisioned orphan deletes are queued for a provisioner (before #13). */
  readonly freeDeletes?: boolean;
}

/** Runs the scenario once on a fresh database and measures it. */
export async function runOnce(
  server: BenchServer,
  variant: Variant,
  options: FloodOptions,
): Promise<FloodRun> {
  const { cancelPending } = variant;
  const db = await server.createDatabase(`flood_${variant.name}`);
  const setup = new pg.Client({ connectionString: db.url });
  await setup.connect();
  await seed(setup, options.desired);
  if (variant.policy !== undefined) {
    await setup.query("UPDATE templates SET prebuild_cancel_policy = $1 WHERE id = $2", [
      variant.policy,
      TEMPLATE,
    ]);
  }
  const pool = createPool({
    connectionString: db.url,
    max: 10,
    applicationName: "prebuildsd-bench",
  });
  const provisionerPool = createPool({
    connectionString: db.url,
    max: options.provisioners + 2,
    applicationName: "prebuildsd-bench-provisioner",
  });
  const provisionerErrors: unknown[] = [];
  const provisioner = new SimulatedProvisioner({
    pool: provisionerPool,
    organizationId: ORG,
    workers: options.provisioners,
    jobDurationMs: options.jobDurationMs,
    failureRate: 0,
    pollIntervalMs: 50,
    heartbeatIntervalMs: 5_000,
    onError: (error) => provisionerErrors.push(error),
  });
  const sampler = new pg.Client({ connectionString: db.url });
  await sampler.connect();

  const samples: FloodSample[] = [];
  const reports: CycleReport[] = [];
  const t0 = performance.now();
  const seconds = () => (performance.now() - t0) / 1000;
  let stop = false;
  let sampling = Promise.resolve();
  const sampleTimer = setInterval(() => {
    // One sample at a time: a slow sample is skipped rather than queued.
    sampling = sampling.then(async () => {
      if (!stop) samples.push(await sample(sampler, seconds()));
    });
  }, options.sampleEveryMs);

  const cycle = async () => {
    const report = await reconcileOnce({
      pool,
      logger: silentLogger,
      options: {
        cancelPendingEnabled: cancelPending,
        recordRuns: false,
        // 0 makes every provisioner count as gone, so the orphan deletes complete at once: what
        // CancelPending would buy if a never-acquired job's workspace were deleted without a job run.
        ...(variant.orphanDeletesAtOnce ? { provisionerStaleAfter: 0 } : {}),
        ...(variant.maxInflightJobs !== undefined && { maxInflightJobs: variant.maxInflightJobs }),
        ...(variant.freeDeletes !== undefined && { freeDeletes: variant.freeDeletes }),
      },
    });
    reports.push(report);
    return report;
  };

  let promotedAt = 0;
  let promotedAtDate = new Date();
  let promotionCycleEndedAt = 0;
  let promotionCycleEnd = new Date();
  let newPoolFullAt: number | null = null;
  let settledAt: number | null = null;
  try {
    await provisioner.start();
    const firstCycleStarted = performance.now();
    await cycle();
    promotedAtDate = new Date();
    await setup.query(
      "UPDATE templates SET active_version_id = $1, updated_at = now() WHERE id = $2",
      [NEW, TEMPLATE],
    );
    promotedAt = seconds();
    // The promotion cycle is the next regular tick, as in the daemon.
    await sleep(options.intervalMs - (performance.now() - firstCycleStarted));
    const promotion = await cycle();
    promotionCycleEnd = promotion.finishedAt;
    promotionCycleEndedAt = seconds();
    options.log(
      `  ${variant.label}: promotion cycle canceled ${promotion.effects.canceledJobs} jobs, ` +
        `created ${promotion.effects.created}, deleted ${promotion.effects.deleted}`,
    );
    // Keep reconciling on the interval until the new pools are full and the old version is gone.
    while (seconds() - promotedAt < options.timeoutMs / 1000) {
      const started = performance.now();
      await cycle();
      const now = await sample(sampler, seconds());
      if (newPoolFullAt === null && now.newPresetsShort === 0) newPoolFullAt = now.t;
      if (
        newPoolFullAt !== null &&
        now.poolOld === 0 &&
        now.queued === 0 &&
        now.runningJobs === 0
      ) {
        settledAt = seconds();
        break;
      }
      await sleep(options.intervalMs - (performance.now() - started));
    }
  } finally {
    stop = true;
    clearInterval(sampleTimer);
    await sampling.catch(() => {});
    await provisioner.stop({ abandon: true });
  }
  // The sampler sees the pools every sampleEveryMs; the loop's check only once per cycle.
  const firstFull = samples.find((s) => s.t >= promotedAt && s.newPresetsShort === 0);
  if (firstFull && (newPoolFullAt === null || firstFull.t < newPoolFullAt))
    newPoolFullAt = firstFull.t;
  const work = await oldVersionWork(sampler, promotedAtDate, promotionCycleEnd);
  await sampler.end();
  await setup.end();
  await pool.end();
  await provisionerPool.end();
  await db.drop();
  if (provisionerErrors.length > 0) {
    options.log(
      `  the simulated provisioner reported ${provisionerErrors.length} errors, first: ${String(provisionerErrors[0])}`,
    );
  }
  const cycleMs = reports.map((r) => r.durationMs).sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 100) / 100;
  return {
    variant: variant.label,
    cancelPending,
    orphanDeletesAtOnce: variant.orphanDeletesAtOnce,
    promotedAt: round(promotedAt),
    promotionCycleEndedAt: round(promotionCycleEndedAt),
    oldStartJobsStartedAfterPromotionCycle: work.startsAfterCycle,
    oldStartJobsStartedAfterPromotion: work.startsAfterPromotion,
    oldProvisionerSeconds: { start: round(work.startSeconds), delete: round(work.deleteSeconds) },
    jobsCanceled: reports.reduce((n, r) => n + r.effects.canceledJobs, 0),
    newPoolFullAfterS: newPoolFullAt === null ? null : round(newPoolFullAt - promotedAt),
    settledAfterS: settledAt === null ? null : round(settledAt - promotedAt),
    cycles: reports.length,
    cycleMsMedian: round(cycleMs[Math.floor(cycleMs.length / 2)] ?? Number.NaN),
    samples,
  };
}

export interface FloodFigures {
  readonly withCancel: FloodRun;
  readonly withoutCancel: FloodRun;
  /** CancelPending with its orphan deletes completed at once: the cost of queuing them. */
  readonly withCancelOrphanDeletesAtOnce: FloodRun;
}

/** The runs, CancelPending on, off, and on with immediate orphan deletes, each on a fresh database. */
export async function benchFlood(
  server: BenchServer,
  options: FloodOptions,
): Promise<FloodFigures> {
  options.log(
    `flood: ${options.provisioners} provisioners × ${options.jobDurationMs} ms jobs, presets wanting ` +
      `${options.desired.join(" + ")} prebuilds, a cycle every ${options.intervalMs} ms`,
  );
  const withCancel = await runOnce(
    server,
    { name: "cancel", label: "CancelPending on", cancelPending: true, orphanDeletesAtOnce: false },
    options,
  );
  const withoutCancel = await runOnce(
    server,
    { name: "keep", label: "CancelPending off", cancelPending: false, orphanDeletesAtOnce: false },
    options,
  );
  const withCancelOrphanDeletesAtOnce = await runOnce(
    server,
    {
      name: "cancel_at_once",
      label: "CancelPending on, orphan deletes completed at once",
      cancelPending: true,
      orphanDeletesAtOnce: true,
    },
    options,
  );
  return { withCancel, withoutCancel, withCancelOrphanDeletesAtOnce };
}

// What change tracking (issue #16, migrations 0042–0049's triggers) costs the writers, side by side in
// one run: the 10,000-prebuild create cycle, then a provisioner completing 1,000 of those jobs the
// way a platform's does (acquire, agents, complete: the shipped queue queries), once on a clone of
// the fleet with the triggers and once on a clone with them disabled (ALTER TABLE … DISABLE
// TRIGGER). Repetitions alternate which variant goes first, so cache warmth and background noise
// fall on both; the provisioners of the two clones take turns in batches of 100 jobs. Each phase
// is measured twice: wall-clock, and the CPU time the PostgreSQL server spent on it
// (bench/serverCpu.ts, when the server runs on this machine). The triggers' cost is server CPU; on
// a shared 2-vCPU virtual machine the wall-clock figures of identical runs swing by ±40% (13 to
// 33 s for the same create cycle in one run), so the targets are judged on the CPU. The create
// target is judged on the cycle's write transactions alone, the two clones taking turns
// (createWrites): the whole cycle's CPU swung 24–52 s, and that measurement found why (one clone's
// creates 4× slower, in migration 0046's ranking trigger, fixed by migration 0050).
import { randomUUID } from "node:crypto";
import pg from "pg";
import { createPool } from "../src/db/pool.ts";
import {
  acquireProvisionerJob,
  completeProvisionerJob,
  insertWorkspaceResourceWithAgents,
} from "../src/db/sql/queue_sql.ts";
import { createPrebuilds } from "../src/execute/createPrebuilds.ts";
import { silentLogger } from "../src/observe/logger.ts";
import { reconcileOnce } from "../src/reconciler/index.ts";
import type { BenchDatabase, BenchServer } from "./benchServer.ts";
import { CREATE_FLEET, expectedCounts, generateFleet } from "./fleet.ts";
import { type Summary, summarize } from "./percentiles.ts";
import { serverCpuReader } from "./serverCpu.ts";

/** A clone with the change-tracking triggers, or one with them disabled. */
type Variant = "with" | "without";

/** Every change-tracking trigger (migrations 0042–0049): table and trigger name. */
const TRACKING_TRIGGERS: readonly (readonly [string, string])[] = [
  ...["insert", "update", "delete"].map(
    (op) => ["workspace_builds", `prebuild_track_${op}`] as const,
  ),
  ["workspace_builds", "prebuild_track_delete_without_preset"],
  ["workspace_resources", "prebuild_track_delete"],
  ["provisioner_jobs", "prebuild_track_update"],
  ["workspaces", "prebuild_track_update"],
  ...["insert", "update", "delete"].map(
    (op) => ["workspace_agents", `prebuild_track_${op}`] as const,
  ),
  ["templates", "prebuild_track_update"],
  ...["insert", "update", "delete"].flatMap((op) =>
    [
      "template_version_presets",
      "template_version_preset_prebuild_schedules",
      "template_version_preset_parameters",
      "template_version_parameters",
    ].map((table) => [table, `prebuild_track_${op}`] as const),
  ),
  ["site_configs", "prebuild_track_change"],
];

export interface OverheadFigures {
  /** Median milliseconds with the triggers, and without. */
  readonly withTracking: Summary;
  readonly withoutTracking: Summary;
  /** withTracking.median / withoutTracking.median − 1 (0.05 = 5% slower). */
  readonly overhead: number;
}

export interface TriggerFigures {
  readonly prebuildsCreated: number;
  readonly jobsCompleted: number;
  readonly repetitions: number;
  /** Wall-clock milliseconds. */
  readonly create: OverheadFigures;
  readonly complete: OverheadFigures;
  /** Milliseconds of the server's CPU time; null when the server is not on this machine. */
  readonly createCpu: OverheadFigures | null;
  readonly completeCpu: OverheadFigures | null;
  /** The create cycle's write transactions alone, the two clones taking turns (createWrites). */
  readonly createWrites: OverheadFigures;
  readonly createWritesCpu: OverheadFigures | null;
}

/** Presets per turn when the two clones' create transactions take turns. */
const CREATE_BATCH = 100;

/**
 * What the create cycle writes, without the cycle around it: for every active preset of the
 * creation fleet, the executor's create transaction (BEGIN, LockPresetForWrite, CreatePrebuilds for
 * its 10 prebuilds, COMMIT: src/execute/createPrebuilds.ts), one after another on one connection
 * per clone, the clones taking turns every CREATE_BATCH presets so that the machine's drifts fall
 * on both. Milliseconds of wall clock and of server CPU, per variant.
 */
async function createWrites(
  dbs: Readonly<Record<Variant, BenchDatabase>>,
  order: readonly Variant[],
  cpuNow: () => Promise<number>,
): Promise<Record<Variant, { wall: number; cpu: number; created: number }>> {
  const clients = {
    with: new pg.Client({ connectionString: dbs.with.url }),
    without: new pg.Client({ connectionString: dbs.without.url }),
  };
  const totals = {
    with: { wall: 0, cpu: 0, created: 0 },
    without: { wall: 0, cpu: 0, created: 0 },
  };
  try {
    await clients.with.connect();
    await clients.without.connect();
    const presets = await clients.with.query<{ id: string; desired: number }>(
      `SELECT tvp.id, tvp.desired_instances AS desired FROM template_version_presets tvp
       JOIN templates t ON t.active_version_id = tvp.template_version_id
       WHERE tvp.desired_instances IS NOT NULL ORDER BY tvp.id`,
    );
    for (let start = 0; start < presets.rows.length; start += CREATE_BATCH) {
      const batch = presets.rows.slice(start, start + CREATE_BATCH);
      const turn = (start / CREATE_BATCH) % 2 === 0 ? order : [...order].reverse();
      for (const variant of turn) {
        const client = clients[variant];
        const cpuBefore = await cpuNow();
        const started = performance.now();
        for (const preset of batch) {
          await client.query("BEGIN");
          const result = await createPrebuilds(client, {
            presetId: preset.id,
            count: preset.desired,
            desired: preset.desired,
            jobTags: {},
          });
          await client.query("COMMIT");
          if (result.kind !== "created") throw new Error(`create: ${result.kind}`);
          totals[variant].created += result.workspaceIds.length;
        }
        totals[variant].wall += performance.now() - started;
        totals[variant].cpu += (await cpuNow()) - cpuBefore;
      }
    }
  } finally {
    await clients.with.end();
    await clients.without.end();
  }
  return totals;
}

export interface TriggerBenchOptions {
  readonly repetitions: number;
  readonly jobs: number;
  readonly log: (line: string) => void;
}

async function disableTracking(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (const [table, trigger] of TRACKING_TRIGGERS) {
      await client.query(`ALTER TABLE ${table} DISABLE TRIGGER ${trigger}`);
    }
  } finally {
    await client.end();
  }
}

/** One provisioner on its own connection: acquire, report a ready agent, complete. */
interface Provisioner {
  /** Runs `jobs` jobs one after another; throws if the queue runs dry. */
  readonly run: (jobs: number) => Promise<void>;
  readonly close: () => Promise<void>;
}

async function openProvisioner(url: string): Promise<Provisioner> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const org = await client.query<{ id: string }>("SELECT id FROM organizations LIMIT 1");
  const organizationId = org.rows[0]?.id ?? "";
  const workerId = randomUUID();
  return {
    run: async (jobs) => {
      for (let i = 0; i < jobs; i++) {
        const job = await acquireProvisionerJob(client, {
          workerId,
          organizationId,
          types: ["workspace_build"],
          provisionerTags: { scope: "organization" },
        });
        if (job === null) throw new Error(`the queue ran dry after ${i} of ${jobs} jobs`);
        await insertWorkspaceResourceWithAgents(client, {
          jobId: job.id,
          resourceName: "main",
          agentNames: ["main"],
          lifecycleStates: ["ready"],
        });
        await completeProvisionerJob(client, { jobId: job.id, workerId, error: null });
      }
    },
    close: () => client.end(),
  };
}

async function createCycle(db: BenchDatabase): Promise<{ ms: number; created: number }> {
  const pool = createPool({
    connectionString: db.url,
    max: 10,
    applicationName: "prebuildsd-bench",
  });
  try {
    const report = await reconcileOnce({
      pool,
      logger: silentLogger,
      options: { now: () => new Date() },
    });
    return { ms: report.durationMs, created: report.effects.created };
  } finally {
    await pool.end();
  }
}

function overhead(withMs: readonly number[], withoutMs: readonly number[]): OverheadFigures {
  const withTracking = summarize(withMs);
  const withoutTracking = summarize(withoutMs);
  return {
    withTracking,
    withoutTracking,
    overhead: withTracking.median / withoutTracking.median - 1,
  };
}

/**
 * Runs `body` `repetitions` times on a fresh pair of clones of `base`, one with the tracking
 * triggers and one without, alternating which variant goes first (`order`); drops both after.
 */
async function onClonePairs(
  server: BenchServer,
  base: BenchDatabase,
  prefix: string,
  repetitions: number,
  body: (
    dbs: Readonly<Record<Variant, BenchDatabase>>,
    order: readonly Variant[],
    rep: number,
  ) => Promise<void>,
): Promise<void> {
  for (let rep = 0; rep < repetitions; rep++) {
    const order: readonly Variant[] = rep % 2 === 0 ? ["with", "without"] : ["without", "with"];
    const dbs = {
      with: await server.cloneDatabase(base, `${prefix}_with_${rep}`),
      without: await server.cloneDatabase(base, `${prefix}_without_${rep}`),
    };
    try {
      await disableTracking(dbs.without.url);
      await body(dbs, order, rep);
    } finally {
      await dbs.with.drop();
      await dbs.without.drop();
    }
  }
}

export async function benchTriggerOverhead(
  server: BenchServer,
  options: TriggerBenchOptions,
): Promise<TriggerFigures> {
  const { log } = options;
  const spec = CREATE_FLEET;
  const wanted = expectedCounts(spec).activePresets * spec.desiredInstances;
  const base = await server.createDatabase("tracking_base");
  const generator = new pg.Client({ connectionString: base.url });
  await generator.connect();
  try {
    await generateFleet(generator, spec, { now: new Date() });
  } finally {
    await generator.end();
  }
  log(
    `change tracking: ${wanted} prebuilds created, then ${options.jobs} jobs completed, with and without the triggers`,
  );
  const createMs = { with: [] as number[], without: [] as number[] };
  const completeMs = { with: [] as number[], without: [] as number[] };
  const createCpuMs = { with: [] as number[], without: [] as number[] };
  const completeCpuMs = { with: [] as number[], without: [] as number[] };
  const writesMs = { with: [] as number[], without: [] as number[] };
  const writesCpuMs = { with: [] as number[], without: [] as number[] };
  const serverCpu = await serverCpuReader(base.url);
  const cpuNow = async () => (serverCpu === null ? 0 : serverCpu());
  // After a cycle's pool closes: the postmaster reaps its connections' processes within
  // milliseconds, and only then is their CPU time in the postmaster's figures.
  const settledCpu = async () => {
    await new Promise((resolve) => setTimeout(resolve, 200));
    return cpuNow();
  };
  const cpuNote = (ms: number) => (serverCpu === null ? "" : ` (server CPU ${ms.toFixed(0)} ms)`);
  const batches = 10;
  const perBatch = Math.ceil(options.jobs / batches);
  let created = 0;
  try {
    await onClonePairs(server, base, "tracking", options.repetitions, async (dbs, order, rep) => {
      for (const variant of order) {
        const before = await settledCpu();
        const cycle = await createCycle(dbs[variant]);
        const cpu = (await settledCpu()) - before;
        created = cycle.created;
        if (cycle.created !== wanted) {
          throw new Error(
            `the create cycle created ${cycle.created} prebuilds, expected ${wanted}`,
          );
        }
        createMs[variant].push(cycle.ms);
        createCpuMs[variant].push(cpu);
        log(
          `  repetition ${rep + 1}/${options.repetitions} ${variant} tracking: create ${cycle.ms.toFixed(0)} ms${cpuNote(cpu)}`,
        );
      }
      // The provisioners take turns, a batch each, so that drifts in the machine's speed fall
      // on both variants alike.
      const provisioners = {
        with: await openProvisioner(dbs.with.url),
        without: await openProvisioner(dbs.without.url),
      };
      const wall = { with: 0, without: 0 };
      const cpu = { with: 0, without: 0 };
      try {
        for (let batch = 0; batch < batches; batch++) {
          const turn = batch % 2 === 0 ? order : [...order].reverse();
          for (const variant of turn) {
            const cpuBefore = await cpuNow();
            const started = performance.now();
            await provisioners[variant].run(perBatch);
            wall[variant] += performance.now() - started;
            cpu[variant] += (await cpuNow()) - cpuBefore;
          }
        }
      } finally {
        await provisioners.with.close();
        await provisioners.without.close();
      }
      for (const variant of order) {
        completeMs[variant].push(wall[variant]);
        completeCpuMs[variant].push(cpu[variant]);
        log(
          `  repetition ${rep + 1}/${options.repetitions} ${variant} tracking: ${perBatch * batches} jobs completed in ${wall[variant].toFixed(0)} ms${cpuNote(cpu[variant])}`,
        );
      }
    });
    await onClonePairs(server, base, "writes", options.repetitions, async (dbs, order, rep) => {
      const totals = await createWrites(dbs, order, cpuNow);
      for (const variant of order) {
        if (totals[variant].created !== wanted) {
          throw new Error(`the create writes made ${totals[variant].created}, expected ${wanted}`);
        }
        writesMs[variant].push(totals[variant].wall);
        writesCpuMs[variant].push(totals[variant].cpu);
        log(
          `  repetition ${rep + 1}/${options.repetitions} ${variant} tracking: create writes alone ${totals[variant].wall.toFixed(0)} ms${cpuNote(totals[variant].cpu)}`,
        );
      }
    });
  } finally {
    await base.drop();
  }
  return {
    prebuildsCreated: created,
    jobsCompleted: perBatch * batches,
    repetitions: options.repetitions,
    create: overhead(createMs.with, createMs.without),
    complete: overhead(completeMs.with, completeMs.without),
    createCpu: serverCpu === null ? null : overhead(createCpuMs.with, createCpuMs.without),
    completeCpu: serverCpu === null ? null : overhead(completeCpuMs.with, completeCpuMs.without),
    createWrites: overhead(writesMs.with, writesMs.without),
    createWritesCpu: serverCpu === null ? null : overhead(writesCpuMs.with, writesCpuMs.without),
  };
}

// What change tracking (issue #16, migration 0042's triggers) costs the writers, side by side in
// one run: the 10,000-prebuild create cycle, then a provisioner completing 1,000 of those jobs the
// way a platform's does (acquire, agents, complete: the shipped queue queries), once on a clone of
// the fleet with the triggers and once on a clone with them disabled (ALTER TABLE … DISABLE
// TRIGGER). Repetitions alternate which variant goes first, so cache warmth and background noise
// fall on both. Each phase is measured twice: wall-clock, and the CPU time the PostgreSQL server
// spent on it (bench/serverCpu.ts, when the server runs on this machine). The triggers' cost is
// server CPU; on a shared 2-vCPU virtual machine the wall-clock figures of identical runs swing by
// ±40% (13 to 33 s for the same create cycle in one run), so the targets are judged on the CPU.
import { randomUUID } from "node:crypto";
import pg from "pg";
import { createPool } from "../src/db/pool.ts";
import {
  acquireProvisionerJob,
  completeProvisionerJob,
  insertWorkspaceResourceWithAgents,
} from "../src/db/sql/queue_sql.ts";
import { silentLogger } from "../src/observe/logger.ts";
import { reconcileOnce } from "../src/reconciler/index.ts";
import type { BenchDatabase, BenchServer } from "./benchServer.ts";
import { CREATE_FLEET, expectedCounts, generateFleet } from "./fleet.ts";
import { type Summary, summarize } from "./percentiles.ts";
import { serverCpuReader } from "./serverCpu.ts";

/** Every change-tracking trigger of migration 0042: table and trigger name. */
const TRACKING_TRIGGERS: readonly (readonly [string, string])[] = [
  ...["insert", "update", "delete"].map(
    (op) => ["workspace_builds", `prebuild_track_${op}`] as const,
  ),
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

/** One provisioner: acquire, report a ready agent, complete; `jobs` times. Milliseconds. */
async function completeJobs(url: string, jobs: number): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const org = await client.query<{ id: string }>("SELECT id FROM organizations LIMIT 1");
    const organizationId = org.rows[0]?.id ?? "";
    const workerId = randomUUID();
    const started = performance.now();
    for (let i = 0; i < jobs; i++) {
      const job = await acquireProvisionerJob(client, {
        workerId,
        organizationId,
        types: ["workspace_build"],
        provisionerTags: { scope: "organization" },
      });
      if (job === null) throw new Error(`only ${i} of ${jobs} jobs could be acquired`);
      await insertWorkspaceResourceWithAgents(client, {
        jobId: job.id,
        resourceName: "main",
        agentNames: ["main"],
        lifecycleStates: ["ready"],
      });
      await completeProvisionerJob(client, { jobId: job.id, workerId, error: null });
    }
    return performance.now() - started;
  } finally {
    await client.end();
  }
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
  const serverCpu = await serverCpuReader(base.url);
  // After a phase's connections close: the postmaster reaps their processes within milliseconds.
  const cpuNow = async () => {
    if (serverCpu === null) return 0;
    await new Promise((resolve) => setTimeout(resolve, 200));
    return serverCpu();
  };
  let created = 0;
  try {
    for (let rep = 0; rep < options.repetitions; rep++) {
      const order = rep % 2 === 0 ? (["with", "without"] as const) : (["without", "with"] as const);
      for (const variant of order) {
        const db = await server.cloneDatabase(base, `tracking_${variant}_${rep}`);
        try {
          if (variant === "without") await disableTracking(db.url);
          const beforeCreate = await cpuNow();
          const cycle = await createCycle(db);
          const afterCreate = await cpuNow();
          created = cycle.created;
          if (cycle.created !== wanted) {
            throw new Error(
              `the create cycle created ${cycle.created} prebuilds, expected ${wanted}`,
            );
          }
          const completed = await completeJobs(db.url, options.jobs);
          const afterComplete = await cpuNow();
          createMs[variant].push(cycle.ms);
          completeMs[variant].push(completed);
          createCpuMs[variant].push(afterCreate - beforeCreate);
          completeCpuMs[variant].push(afterComplete - afterCreate);
          const cpu = (ms: number) =>
            serverCpu === null ? "" : ` (server CPU ${ms.toFixed(0)} ms)`;
          log(
            `  repetition ${rep + 1}/${options.repetitions} ${variant} tracking: create ${cycle.ms.toFixed(0)} ms` +
              `${cpu(afterCreate - beforeCreate)}, ${options.jobs} jobs completed in ${completed.toFixed(0)} ms` +
              cpu(afterComplete - afterCreate),
          );
        } finally {
          await db.drop();
        }
      }
    }
  } finally {
    await base.drop();
  }
  return {
    prebuildsCreated: created,
    jobsCompleted: options.jobs,
    repetitions: options.repetitions,
    create: overhead(createMs.with, createMs.without),
    complete: overhead(completeMs.with, completeMs.without),
    createCpu: serverCpu === null ? null : overhead(createCpuMs.with, createCpuMs.without),
    completeCpu: serverCpu === null ? null : overhead(completeCpuMs.with, completeCpuMs.without),
  };
}

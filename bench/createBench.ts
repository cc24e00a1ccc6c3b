// A cycle that must create 10,000 prebuilds from empty pools (1,000 active presets × 10), against
// the floor of writing the same rows with one plain INSERT per table. Each repetition runs on its
// own clone of the generated fleet, so every cycle and every floor starts from the same state.
import pg from "pg";
import { defaultConcurrency } from "../src/config/defaultConcurrency.ts";
import { createPool } from "../src/db/pool.ts";
import { silentLogger } from "../src/observe/logger.ts";
import { PREBUILDS_SYSTEM_USER_ID } from "../src/prebuildsUser.ts";
import { reconcileOnce } from "../src/reconciler/index.ts";
import type { BenchServer } from "./benchServer.ts";
import { CREATE_FLEET, expectedCounts, generateFleet } from "./fleet.ts";
import { insertCreationFloor } from "./floor.ts";
import { type Summary, summarize } from "./percentiles.ts";
import type { SpanTimer } from "./spanTimer.ts";
import { countStatements } from "./statementCounter.ts";

export interface CreateFigures {
  readonly presets: number;
  readonly prebuildsWanted: number;
  readonly prebuildsCreated: readonly number[];
  readonly repetitions: number;
  readonly concurrency: number;
  readonly cycleMs: Summary;
  readonly snapshotMs: Summary;
  readonly executeMs: Summary;
  readonly floorMs: Summary;
  readonly cycleToFloor: number;
  readonly statementsReported: readonly number[];
  readonly statementsObserved: readonly number[];
  readonly rssMbMax: number;
}

export interface CreateBenchOptions {
  readonly repetitions: number;
  /** Pool size; the reconciler's default concurrency is clamp(pool / 2, 1, 5). */
  readonly poolSize: number;
  readonly log: (line: string) => void;
}

async function countCreated(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM workspace_builds wb JOIN provisioner_jobs pj ON pj.id = wb.job_id
       WHERE wb.initiator_id = $1 AND wb.build_number = 1 AND pj.job_status = 'pending'`,
      [PREBUILDS_SYSTEM_USER_ID],
    );
    return rows[0]?.n ?? 0;
  } finally {
    await client.end();
  }
}

export async function benchCreation(
  server: BenchServer,
  timer: SpanTimer,
  options: CreateBenchOptions,
): Promise<CreateFigures> {
  const { log } = options;
  const spec = CREATE_FLEET;
  const counts = expectedCounts(spec);
  const wanted = counts.activePresets * spec.desiredInstances;
  const base = await server.createDatabase("create_base");
  const generator = new pg.Client({ connectionString: base.url });
  await generator.connect();
  try {
    await generateFleet(generator, spec, { now: new Date() });
  } finally {
    await generator.end();
  }
  log(
    `creation: ${counts.activePresets} active presets × ${spec.desiredInstances} = ${wanted} prebuilds to create`,
  );

  const cycleMs: number[] = [];
  const snapshotMs: number[] = [];
  const executeMs: number[] = [];
  const floorMs: number[] = [];
  const created: number[] = [];
  const statementsReported: number[] = [];
  const statementsObserved: number[] = [];
  let rssMax = 0;
  const sampler = setInterval(() => {
    rssMax = Math.max(rssMax, process.memoryUsage().rss);
  }, 25);
  try {
    for (let rep = 0; rep < options.repetitions; rep++) {
      const floorDb = await server.cloneDatabase(base, `create_floor_${rep}`);
      const floorClient = new pg.Client({ connectionString: floorDb.url });
      await floorClient.connect();
      try {
        const floor = await insertCreationFloor(floorClient, spec.desiredInstances, new Date());
        if (floor.prebuilds !== wanted) {
          throw new Error(
            `the creation floor wrote ${floor.prebuilds} prebuilds, expected ${wanted}`,
          );
        }
        floorMs.push(floor.ms);
      } finally {
        await floorClient.end();
        await floorDb.drop();
      }

      const cycleDb = await server.cloneDatabase(base, `create_cycle_${rep}`);
      const pool = createPool({
        connectionString: cycleDb.url,
        max: options.poolSize,
        applicationName: "prebuildsd-bench",
      });
      const counter = countStatements(pool);
      try {
        timer.take();
        let plannedAt = 0;
        const report = await reconcileOnce({
          pool,
          logger: silentLogger,
          options: { now: () => new Date() },
          observer: {
            onPlanned: () => {
              plannedAt = performance.now();
            },
          },
        });
        const spans = timer.take();
        const cycle = spans.find((s) => s.name === "prebuilds.reconcile");
        const snapshot = spans.find((s) => s.name === "prebuilds.snapshot");
        if (!cycle || !snapshot) throw new Error("the creation cycle did not run");
        cycleMs.push(report.durationMs);
        snapshotMs.push(snapshot.end - snapshot.start);
        executeMs.push(cycle.end - plannedAt);
        statementsReported.push(report.statements);
        statementsObserved.push(counter.count());
        created.push(await countCreated(cycleDb.url));
        log(
          `  repetition ${rep + 1}/${options.repetitions}: cycle ${report.durationMs.toFixed(0)} ms ` +
            `(${report.effects.created} created, ${report.failures} failed actions), floor ${floorMs.at(-1)?.toFixed(0)} ms`,
        );
      } finally {
        await pool.end();
        await cycleDb.drop();
      }
    }
  } finally {
    clearInterval(sampler);
    await base.drop();
  }
  const cycle = summarize(cycleMs);
  const floor = summarize(floorMs);
  return {
    presets: counts.presets,
    prebuildsWanted: wanted,
    prebuildsCreated: created,
    repetitions: cycleMs.length,
    concurrency: defaultConcurrency(options.poolSize),
    cycleMs: cycle,
    snapshotMs: summarize(snapshotMs),
    executeMs: summarize(executeMs),
    floorMs: floor,
    cycleToFloor: cycle.median / floor.median,
    statementsReported,
    statementsObserved,
    rssMbMax: Math.round((rssMax / 1024 / 1024) * 10) / 10,
  };
}

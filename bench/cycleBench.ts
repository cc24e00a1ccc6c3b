// The no-op cycle of one fleet (every active pool already full): snapshot, plan, execute and whole
// cycle times from the reconciler's own spans, SQL round trips (the reconciler's count and an
// independent one), process RSS, and the read floor measured on the same database in between.
// These are full resyncs (every preset read). Then the incremental cycles of issue #16 on the same
// fleet: with nothing changed, and with 10 presets changed before each cycle.
import pg from "pg";
import { createPool } from "../src/db/pool.ts";
import { silentLogger } from "../src/observe/logger.ts";
import { reconcileOnce } from "../src/reconciler/index.ts";
import type { BenchServer } from "./benchServer.ts";
import { type ClaimFigures, probeClaims } from "./claimBench.ts";
import { expectedCounts, type FleetSpec, generateFleet } from "./fleet.ts";
import { readSnapshotFloor } from "./floor.ts";
import { type Summary, summarize } from "./percentiles.ts";
import { probeRss, type RssProbeResult, TUNED_V8_FLAGS } from "./rssProbe.ts";
import type { SpanTimer, TimedSpan } from "./spanTimer.ts";
import { countStatements } from "./statementCounter.ts";

export interface CycleFigures {
  readonly fleet: string;
  readonly presets: number;
  readonly activePresets: number;
  readonly runningPrebuilds: number;
  readonly historicalBuilds: number;
  readonly generateMs: number;
  readonly cycles: number;
  readonly snapshotMs: Summary;
  readonly planMs: Summary;
  readonly executeMs: Summary;
  readonly cycleMs: Summary;
  readonly floorMs: Summary;
  /** Median time of each snapshot query inside the cycle (send to next send, decoding included). */
  readonly snapshotQueryMs: Record<string, number>;
  /** Median floor time of each floor query, to see where the floor goes. */
  readonly floorQueryMs: Record<string, number>;
  /** cycle median / floor median. */
  readonly cycleToFloor: number;
  /** Statements per cycle as the reconciler counts them (its CycleReport.statements). */
  readonly statementsReported: readonly number[];
  /** Statements per cycle counted on the pool's connections (recording the run included). */
  readonly statementsObserved: readonly number[];
  /** Actions the "no-op" cycles took (should all be zero once the pools are full). */
  readonly actionsTaken: number;
  /** Peak RSS and heap of this benchmark process (harness and floor reads included). */
  readonly harnessRssMbMax: number;
  readonly harnessHeapUsedMbMax: number;
  /** Incremental cycles with nothing marked or due (issue #16). */
  readonly incrementalNoopMs: Summary;
  readonly incrementalNoopStatements: readonly number[];
  /** Incremental cycles after 10 random active presets were changed (each marks itself; a replace template widens no further). */
  readonly changedPresets: number;
  readonly incrementalChangedMs: Summary;
  readonly incrementalChangedStatements: readonly number[];
  /** Presets each of those cycles read (the changed presets and their surge partners, if any). */
  readonly incrementalChangedPresetsRead: readonly number[];
  /** A child process that only reconciles this fleet: the reconciler's own memory. */
  readonly reconcilerMemory: RssProbeResult;
  /** The same with TUNED_V8_FLAGS: prebuildsd's launch flags (src/cli/launchFlags.ts). */
  readonly reconcilerMemoryTuned: RssProbeResult & { readonly v8Flags: readonly string[] };
  /** 10 concurrent claimers through the shipped claim query, after the cycles (issue #16). */
  readonly claims: ClaimFigures;
}

export interface CycleBenchOptions {
  readonly cycles: number;
  readonly warmups: number;
  /** Milliseconds of measured cycles after which no new cycle starts (one always runs). */
  readonly budgetMs: number;
  /** No-op cycles the memory probe process runs. */
  readonly rssCycles: number;
  readonly log: (line: string) => void;
  /** Keep the fleet's database (for EXPLAIN ANALYZE afterwards). */
  readonly keepDatabase: boolean;
}

function spanDuration(spans: readonly TimedSpan[], name: string): TimedSpan | undefined {
  return spans.find((s) => s.name === name);
}

function mb(bytes: number): number {
  return Math.round((bytes / 1024 / 1024) * 10) / 10;
}

export async function benchNoopCycle(
  server: BenchServer,
  spec: FleetSpec,
  timer: SpanTimer,
  options: CycleBenchOptions,
): Promise<CycleFigures> {
  const { log } = options;
  const db = await server.createDatabase(`fleet_${spec.name.toLowerCase()}`);
  const now = new Date();
  const generator = new pg.Client({ connectionString: db.url });
  await generator.connect();
  const generateStarted = performance.now();
  try {
    await generateFleet(generator, spec, { now });
  } finally {
    await generator.end();
  }
  const generateMs = performance.now() - generateStarted;
  const counts = expectedCounts(spec);
  log(
    `fleet ${spec.name}: ${counts.presets} presets, ${counts.runningPrebuilds} running prebuilds, ` +
      `${counts.historicalBuilds} historical builds generated in ${(generateMs / 1000).toFixed(1)} s`,
  );

  const pool = createPool({ connectionString: db.url, applicationName: "prebuildsd-bench" });
  const counter = countStatements(pool);
  // The same connection settings as the pool (JIT off), so the ratio compares the queries alone.
  const floorClient = new pg.Client({ connectionString: db.url, options: "-c jit=off" });
  await floorClient.connect();

  const snapshotMs: number[] = [];
  const planMs: number[] = [];
  const executeMs: number[] = [];
  const cycleMs: number[] = [];
  const floorMs: number[] = [];
  const floorQueries: Record<string, number[]> = {};
  const snapshotQueries: Record<string, number[]> = {};
  const statementsReported: number[] = [];
  const statementsObserved: number[] = [];
  let actionsTaken = 0;
  let rssMax = 0;
  let heapMax = 0;
  const sampleMemory = () => {
    const usage = process.memoryUsage();
    rssMax = Math.max(rssMax, usage.rss);
    heapMax = Math.max(heapMax, usage.heapUsed);
  };
  const sampler = setInterval(sampleMemory, 25);

  const measuringStarted = { at: 0 };
  let incremental: IncrementalFigures | undefined;
  try {
    for (let i = 0; i < options.warmups + options.cycles; i++) {
      const measured = i >= options.warmups;
      if (i === options.warmups) measuringStarted.at = performance.now();
      // A pathologically slow cycle must not hold the whole run hostage: past the budget, the
      // cycles measured so far (at least one) are the figures.
      if (
        measured &&
        cycleMs.length > 0 &&
        performance.now() - measuringStarted.at > options.budgetMs
      ) {
        log(
          `  stopping after ${cycleMs.length} cycles: the ${options.budgetMs / 1000} s budget is spent`,
        );
        break;
      }
      // Alternate floor and cycle so both see the same cache state and background noise.
      const floor = await readSnapshotFloor(floorClient);
      timer.take();
      counter.reset();
      let plannedAt = 0;
      const sent: { at: number; name: string }[] = [];
      const report = await reconcileOnce(
        {
          pool,
          logger: silentLogger,
          options: { now: () => new Date() },
          onStatement: (text) => {
            sent.push({
              at: performance.now(),
              name: /-- name: (\w+)/.exec(text)?.[1] ?? text.slice(0, 24),
            });
          },
          observer: {
            onPlanned: () => {
              plannedAt = performance.now();
            },
          },
        },
        { full: true },
      );
      const spans = timer.take();
      sampleMemory();
      const cycle = spanDuration(spans, "prebuilds.reconcile");
      const snapshot = spanDuration(spans, "prebuilds.snapshot");
      if (!cycle || !snapshot || plannedAt === 0) {
        throw new Error(
          `fleet ${spec.name}: the cycle did not run its snapshot (lock acquired: ${report.lockAcquired}, paused: ${report.paused})`,
        );
      }
      const acted =
        report.effects.created +
        report.effects.deleted +
        report.effects.canceledJobs +
        report.failures;
      if (!measured) {
        if (acted > 0)
          log(`  warm-up cycle acted (${JSON.stringify(report.effects)}); pools were not full`);
        continue;
      }
      actionsTaken += acted;
      floorMs.push(floor.totalMs);
      for (const [name, ms] of Object.entries(floor.queryMs)) {
        const samples = floorQueries[name] ?? [];
        samples.push(ms);
        floorQueries[name] = samples;
      }
      snapshotMs.push(snapshot.end - snapshot.start);
      // The snapshot's statements go one after another on the lock connection, so each one lasts
      // until the next is sent (the last until the snapshot span ends).
      const inSnapshot = sent.filter((s) => s.at >= snapshot.start && s.at <= snapshot.end);
      inSnapshot.forEach((statement, k) => {
        const until = inSnapshot[k + 1]?.at ?? snapshot.end;
        const samples = snapshotQueries[statement.name] ?? [];
        samples.push(until - statement.at);
        snapshotQueries[statement.name] = samples;
      });
      planMs.push(plannedAt - snapshot.end);
      executeMs.push(cycle.end - plannedAt);
      cycleMs.push(report.durationMs);
      statementsReported.push(report.statements);
      statementsObserved.push(counter.count());
      log(
        `  cycle ${i - options.warmups + 1}/${options.cycles}: ${report.durationMs.toFixed(0)} ms ` +
          `(snapshot ${(snapshot.end - snapshot.start).toFixed(0)}), floor ${floor.totalMs.toFixed(0)} ms, ` +
          `${report.statements} statements`,
      );
    }
    incremental = await benchIncremental(pool, options);
    log(`  memory probe: ${options.rssCycles} cycles in a reconciler-only child process`);
  } finally {
    clearInterval(sampler);
    await floorClient.end();
    await pool.end();
  }
  let reconcilerMemory: RssProbeResult;
  let reconcilerMemoryTuned: RssProbeResult;
  let claims: ClaimFigures;
  try {
    reconcilerMemory = await probeRss(db.url, options.rssCycles);
    reconcilerMemoryTuned = await probeRss(db.url, options.rssCycles, TUNED_V8_FLAGS);
    claims = await probeClaims(db.url, { claimers: 10, claimsPerClaimer: 200 });
    log(
      `  claims: ${claims.claims} by ${claims.claimers} concurrent claimers, p50 ` +
        `${claims.latencyMs.median.toFixed(2)} ms, p99 ${claims.p99Ms.toFixed(2)} ms, ` +
        `${claims.misses} found no prebuild; floor (one-row update, interleaved) p50 ` +
        `${claims.floorMs.median.toFixed(2)} ms, p99 ${claims.floorP99Ms.toFixed(2)} ms; each ` +
        `connection's first claim (not counted) median ${claims.coldFirstClaimMs.median.toFixed(1)} ms`,
    );
  } finally {
    if (!options.keepDatabase) await db.drop();
    else log(`  kept database ${db.name} for inspection`);
  }

  const cycleSummary = summarize(cycleMs);
  const floorSummary = summarize(floorMs);
  return {
    fleet: spec.name,
    presets: counts.presets,
    activePresets: counts.activePresets,
    runningPrebuilds: counts.runningPrebuilds,
    historicalBuilds: counts.historicalBuilds,
    generateMs,
    cycles: cycleMs.length,
    snapshotMs: summarize(snapshotMs),
    planMs: summarize(planMs),
    executeMs: summarize(executeMs),
    cycleMs: cycleSummary,
    floorMs: floorSummary,
    snapshotQueryMs: Object.fromEntries(
      Object.entries(snapshotQueries).map(([name, samples]) => [name, summarize(samples).median]),
    ),
    floorQueryMs: Object.fromEntries(
      Object.entries(floorQueries).map(([name, samples]) => [name, summarize(samples).median]),
    ),
    cycleToFloor: cycleSummary.median / floorSummary.median,
    statementsReported,
    statementsObserved,
    actionsTaken,
    harnessRssMbMax: mb(rssMax),
    harnessHeapUsedMbMax: mb(heapMax),
    ...(incremental ?? emptyIncremental()),
    reconcilerMemory,
    reconcilerMemoryTuned: { ...reconcilerMemoryTuned, v8Flags: TUNED_V8_FLAGS },
    claims,
  };
}

type IncrementalFigures = Pick<
  CycleFigures,
  | "incrementalNoopMs"
  | "incrementalNoopStatements"
  | "changedPresets"
  | "incrementalChangedMs"
  | "incrementalChangedStatements"
  | "incrementalChangedPresetsRead"
>;

function emptyIncremental(): IncrementalFigures {
  return {
    incrementalNoopMs: summarize([]),
    incrementalNoopStatements: [],
    changedPresets: 0,
    incrementalChangedMs: summarize([]),
    incrementalChangedStatements: [],
    incrementalChangedPresetsRead: [],
  };
}

/** How many presets change before each "changed" incremental cycle. */
const CHANGED_PRESETS = 10;

/**
 * Incremental cycles (issue #16) on the fleet the full cycles left with every pool full: first
 * with nothing marked (after one cycle that consumes what the full cycles left), then each after
 * CHANGED_PRESETS random active presets were "changed" (an UPDATE that rewrites desired_instances
 * with its own value: the trigger marks the preset, nothing else changes).
 */
async function benchIncremental(
  pool: pg.Pool,
  options: CycleBenchOptions,
): Promise<IncrementalFigures> {
  const { log } = options;
  const cycle = () =>
    reconcileOnce({ pool, logger: silentLogger, options: { now: () => new Date() } });
  const settle = await cycle();
  if (settle.kind !== "incremental")
    throw new Error(`expected an incremental cycle, got ${settle.kind}`);
  const noopMs: number[] = [];
  const noopStatements: number[] = [];
  // No-op incremental cycles are short: measure more of them.
  for (let i = 0; i < options.cycles * 3; i++) {
    const report = await cycle();
    if (report.kind !== "incremental" || report.presetsTotal !== 0) {
      throw new Error(
        `a no-op incremental cycle read ${report.presetsTotal} presets (${report.kind})`,
      );
    }
    noopMs.push(report.durationMs);
    noopStatements.push(report.statements);
  }
  const changedMs: number[] = [];
  const changedStatements: number[] = [];
  const presetsRead: number[] = [];
  for (let i = 0; i < options.cycles * 3; i++) {
    await pool.query(
      `UPDATE template_version_presets SET desired_instances = desired_instances
       WHERE id IN (
         SELECT tvp.id FROM template_version_presets tvp
         JOIN templates t ON t.active_version_id = tvp.template_version_id
         ORDER BY random() LIMIT $1
       )`,
      [CHANGED_PRESETS],
    );
    const report = await cycle();
    if (report.kind !== "incremental")
      throw new Error(`expected an incremental cycle, got ${report.kind}`);
    changedMs.push(report.durationMs);
    changedStatements.push(report.statements);
    presetsRead.push(report.presetsTotal);
  }
  const noop = summarize(noopMs);
  const changed = summarize(changedMs);
  log(
    `  incremental: no-op ${noop.median.toFixed(1)} ms median (${noopStatements[0]} statements); ` +
      `${CHANGED_PRESETS} presets changed ${changed.median.toFixed(1)} ms median ` +
      `(${presetsRead[0]} presets read, ${changedStatements[0]} statements)`,
  );
  return {
    incrementalNoopMs: noop,
    incrementalNoopStatements: noopStatements,
    changedPresets: CHANGED_PRESETS,
    incrementalChangedMs: changed,
    incrementalChangedStatements: changedStatements,
    incrementalChangedPresetsRead: presetsRead,
  };
}

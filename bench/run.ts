// `npm run bench`: fleet-scale cycle cost against the database's own floor, creating 10,000
// prebuilds against its floor, and the queue-flood promotion scenario. Runs against DATABASE_URL,
// else an embedded PostgreSQL. Prints a table and writes bench/results/latest.json and flood.svg.
//
//   npm run bench -- [--fleet S|M|L|XL]... [--skip-flood] [--skip-create] [--cycles N] [--keep]
//   npm run bench -- worker      only the job side's figures (cancel latency, acquire throughput)
//   npm run bench -- cancellation  only issue #13's table (cancel policies × cap, free deletes)
import { mkdir, writeFile } from "node:fs/promises";
import { loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { projectRoot } from "../src/projectRoot.ts";
import { startBenchServer } from "./benchServer.ts";
import { benchCancellation, formatCancellation } from "./cancellation.ts";
import { benchCreation, type CreateFigures } from "./createBench.ts";
import { benchNoopCycle, type CycleFigures } from "./cycleBench.ts";
import { FLEETS, type FleetName } from "./fleet.ts";
import { benchFlood, DEFAULT_FLOOD } from "./flood.ts";
import { floodChartSvg } from "./floodChart.ts";
import { type BenchResults, checkTargets, describeMachine, formatResults } from "./report.ts";
import { SpanTimer } from "./spanTimer.ts";
import { benchTriggerOverhead, type TriggerFigures } from "./triggerBench.ts";
import {
  benchWorker,
  DEFAULT_WORKER_BENCH,
  formatWorkerFigures,
  type WorkerFigures,
  workerTargets,
} from "./workerBench.ts";

const USAGE = `usage: npm run bench -- [worker|cancellation] [--fleet S|M|L|XL]... [--skip-flood] [--skip-create] [--skip-tracking] [--cycles N] [--keep]
  worker         run only the job side's scenario (cancel latency via NOTIFY and heartbeat,
                 acquire throughput with 4 workers on 10,000 pending jobs)
  cancellation   run only the flood scenario per cancel policy, with the in-flight cap off and on,
                 and with free deletes off (before) and on (issue #13); one table
  --fleet        a fleet to measure (repeat or comma-separate; default S, M and L; XL only when named)
  --skip-flood   skip the queue-flood promotion scenario
  --skip-create  skip the 10,000-prebuild creation cycle
  --skip-tracking  skip change tracking's cost to writers (create and complete, with and without)
  --cycles       measured no-op cycles per fleet (default 9; L stops early past its time budget)
  --keep         keep the fleets' databases (prebuildsd_bench_fleet_*) for EXPLAIN ANALYZE`;

interface Flags {
  readonly fleets: readonly FleetName[];
  readonly flood: boolean;
  readonly create: boolean;
  readonly tracking: boolean;
  readonly cycles: number;
  readonly keep: boolean;
  /** Only the worker scenario (`npm run bench -- worker`). */
  readonly workerOnly: boolean;
  /** Only issue #13's table (`npm run bench -- cancellation`). */
  readonly cancellationOnly: boolean;
}

function parseFlags(argv: readonly string[]): Flags {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      fleet: { type: "string", multiple: true },
      "skip-flood": { type: "boolean", default: false },
      "skip-create": { type: "boolean", default: false },
      "skip-tracking": { type: "boolean", default: false },
      cycles: { type: "string", default: "9" },
      keep: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const names = (values.fleet ?? ["S", "M", "L"])
    .flatMap((f) => f.split(","))
    .map((f) => f.trim().toUpperCase());
  for (const name of names) {
    if (!(name in FLEETS)) {
      throw new UsageError(`--fleet must be S, M, L or XL (got "${name}")`);
    }
  }
  for (const p of positionals) {
    if (p !== "worker" && p !== "cancellation") {
      throw new UsageError(
        `unknown scenario "${p}" (the scenarios are "worker" and "cancellation")`,
      );
    }
  }
  const cancellationOnly = positionals.includes("cancellation");
  const workerOnly = positionals.includes("worker") || cancellationOnly;
  const cycles = Number.parseInt(values.cycles, 10);
  if (!Number.isInteger(cycles) || cycles < 1) {
    throw new UsageError(`--cycles must be a positive integer like 9 (got "${values.cycles}")`);
  }
  return {
    fleets: workerOnly ? [] : ([...new Set(names)] as FleetName[]),
    flood: !workerOnly && !values["skip-flood"],
    create: !workerOnly && !values["skip-create"],
    tracking: !workerOnly && !cancellationOnly && !values["skip-tracking"],
    workerOnly: workerOnly && !cancellationOnly,
    cancellationOnly,
    cycles,
    keep: values.keep,
  };
}

class UsageError extends Error {}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  const started = performance.now();
  const loadAtStart = Math.round((loadavg()[0] ?? 0) * 100) / 100;
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const timer = new SpanTimer();
  timer.install();
  const server = await startBenchServer(log);
  log(`database: ${server.source} (${server.version.split(" on ")[0]})`);
  if (flags.cancellationOnly) {
    try {
      const rows = await benchCancellation(server, { ...DEFAULT_FLOOD, log });
      const dir = join(projectRoot, "bench", "results");
      await mkdir(dir, { recursive: true });
      const summary = rows.map((r) => ({ ...r, run: { ...r.run, samples: undefined } }));
      await writeFile(
        join(dir, "cancellation.json"),
        `${JSON.stringify({ generatedAt: new Date().toISOString(), machine: describeMachine(loadAtStart), server: { source: server.source, version: server.version }, rows: summary }, null, 2)}\n`,
      );
      process.stdout.write(`${formatCancellation(rows)}\n`);
      log(
        `wrote bench/results/cancellation.json in ${Math.round((performance.now() - started) / 1000)} s`,
      );
    } finally {
      await server.stop();
    }
    return;
  }
  const fleets: CycleFigures[] = [];
  let creation: CreateFigures | null = null;
  let flood: BenchResults["flood"] = null;
  let worker: WorkerFigures | null = null;
  let tracking: TriggerFigures | null = null;
  try {
    for (const name of flags.fleets) {
      fleets.push(
        await benchNoopCycle(server, FLEETS[name], timer, {
          cycles: flags.cycles,
          warmups: 1,
          // L's and XL's cycles take seconds each while its queries are slow; the run must stay short.
          budgetMs: name === "XL" ? 90_000 : name === "L" ? 45_000 : 30_000,
          // Back-to-back full resyncs until the heap's size settles: 3 showed XL's first peak
          // (375 MB with Node's default heap growth), 10–25 its steady state (530–575 MB).
          rssCycles: 10,
          log,
          keepDatabase: flags.keep,
        }),
      );
    }
    if (flags.create)
      creation = await benchCreation(server, timer, { repetitions: 3, poolSize: 10, log });
    if (flags.tracking)
      tracking = await benchTriggerOverhead(server, { repetitions: 5, jobs: 1000, log });
    if (flags.flood) flood = await benchFlood(server, { ...DEFAULT_FLOOD, log });
    worker = await benchWorker(server, { ...DEFAULT_WORKER_BENCH, log });
  } finally {
    await server.stop();
  }

  const results: BenchResults = {
    generatedAt: new Date().toISOString(),
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`,
    durationS: Math.round((performance.now() - started) / 1000),
    machine: describeMachine(loadAtStart),
    server: { source: server.source, version: server.version, settings: server.settings },
    targets: [
      ...checkTargets(fleets, creation, flood, tracking),
      ...(worker ? workerTargets(worker) : []),
    ],
    fleets,
    creation,
    flood,
    worker,
    tracking,
  };
  const dir = join(projectRoot, "bench", "results");
  await mkdir(dir, { recursive: true });
  // A worker-only run must not replace the full run's figures.
  const file = flags.workerOnly ? "worker.json" : "latest.json";
  await writeFile(join(dir, file), `${JSON.stringify(results, null, 2)}\n`);
  if (flood) {
    const caption =
      `${DEFAULT_FLOOD.provisioners} simulated provisioners, ${DEFAULT_FLOOD.jobDurationMs} ms per job, ` +
      `presets wanting ${DEFAULT_FLOOD.desired.join(" + ")}, a cycle every ${DEFAULT_FLOOD.intervalMs} ms; ` +
      `${results.generatedAt}, ${server.source}`;
    await writeFile(
      join(dir, "flood.svg"),
      floodChartSvg(
        [flood.withCancel, flood.withoutCancel, flood.withCancelOrphanDeletesAtOnce],
        caption,
      ),
    );
  }
  process.stdout.write(`${formatResults(results)}\n`);
  if (worker) process.stdout.write(`\n${formatWorkerFigures(worker)}\n`);
  log(
    `wrote bench/results/${file}${flood ? " and bench/results/flood.svg" : ""} in ${results.durationS} s`,
  );
}

main().catch((error: unknown) => {
  if (
    error instanceof UsageError ||
    (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")
  ) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${USAGE}\n`);
    process.exit(2);
  }
  process.stderr.write(
    `benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});

// A process that does nothing but reconcile: N no-op cycles against a fleet's database, then prints
// its peak RSS and heap as JSON. The benchmark runs it as a child so that the figure is the
// reconciler's own, not inflated by the harness's floor reads and bookkeeping.
// Usage: node bench/rssProbe.ts <database url> <cycles>
import { LAUNCH_NODE_FLAGS } from "../src/cli/launchFlags.ts";
import { createPool } from "../src/db/pool.ts";
import { silentLogger } from "../src/observe/logger.ts";
import { reconcileOnce } from "../src/reconciler/index.ts";

export interface RssProbeResult {
  readonly rssMbBaseline: number;
  readonly rssMbMax: number;
  readonly heapUsedMbMax: number;
  readonly cycles: number;
  /** The process's CPU time (user + system) per cycle, milliseconds: what the V8 flags cost. */
  readonly cpuMsPerCycle: number;
}

const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

async function main(): Promise<void> {
  const [url, cyclesArg] = process.argv.slice(2);
  if (!url) throw new Error("usage: node bench/rssProbe.ts <database url> <cycles>");
  const cycles = Number.parseInt(cyclesArg ?? "3", 10);
  const baseline = process.memoryUsage().rss;
  let rssMax = baseline;
  let heapMax = 0;
  const sample = () => {
    const usage = process.memoryUsage();
    rssMax = Math.max(rssMax, usage.rss);
    heapMax = Math.max(heapMax, usage.heapUsed);
  };
  const sampler = setInterval(sample, 10);
  const cpuBefore = process.cpuUsage();
  const pool = createPool({ connectionString: url, applicationName: "prebuildsd-bench-rss" });
  try {
    for (let i = 0; i < cycles; i++) {
      // Full resyncs: the most a cycle holds in memory (issue #16's incremental cycles read less).
      await reconcileOnce(
        { pool, logger: silentLogger, options: { recordRuns: false } },
        { full: true },
      );
      sample();
    }
  } finally {
    clearInterval(sampler);
    await pool.end();
  }
  const cpu = process.cpuUsage(cpuBefore);
  const result: RssProbeResult = {
    rssMbBaseline: mb(baseline),
    rssMbMax: mb(rssMax),
    heapUsedMbMax: mb(heapMax),
    cycles,
    cpuMsPerCycle: Math.round((cpu.user + cpu.system) / 1000 / Math.max(1, cycles)),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (import.meta.main) await main();

/** V8 flags of the second probe: those an installed `prebuildsd` runs with (its shebang line). */
export const TUNED_V8_FLAGS: readonly string[] = LAUNCH_NODE_FLAGS;

/** Runs the probe in a child process (the same Node binary, with `v8Flags`) and returns its output. */
export async function probeRss(
  url: string,
  cycles: number,
  v8Flags: readonly string[] = [],
): Promise<RssProbeResult> {
  const { execFile } = await import("node:child_process");
  const { promisify } = await import("node:util");
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [...v8Flags, import.meta.filename, url, String(cycles)],
    { maxBuffer: 1024 * 1024 },
  );
  const line = stdout.trim().split("\n").at(-1) ?? "";
  return JSON.parse(line) as RssProbeResult;
}

// The benchmark's output: the targets checked against the figures, a table for the terminal, and
// the JSON document written to bench/results/latest.json.
import { cpus, loadavg, release, totalmem } from "node:os";
import type { CreateFigures } from "./createBench.ts";
import type { CycleFigures } from "./cycleBench.ts";
import type { FloodFigures } from "./flood.ts";
import type { TriggerFigures } from "./triggerBench.ts";
import type { WorkerFigures } from "./workerBench.ts";

export interface Machine {
  readonly cpus: number;
  readonly cpuModel: string;
  readonly memoryGb: number;
  readonly os: string;
  readonly node: string;
  /** 1-minute load average when the run started and ended: other work on the machine adds noise. */
  readonly loadAverage: { readonly start: number; readonly end: number };
}

export interface TargetCheck {
  readonly target: string;
  readonly met: boolean;
  readonly figure: string;
}

export interface BenchResults {
  readonly generatedAt: string;
  readonly command: string;
  readonly durationS: number;
  readonly machine: Machine;
  readonly server: {
    readonly source: string;
    readonly version: string;
    readonly settings: Record<string, string>;
  };
  readonly targets: readonly TargetCheck[];
  readonly fleets: readonly CycleFigures[];
  readonly creation: CreateFigures | null;
  readonly flood: FloodFigures | null;
  /** The job side (issue #12); null when not run. */
  readonly worker: WorkerFigures | null;
  /** What change tracking costs writers (issue #16); null when not run. */
  readonly tracking: TriggerFigures | null;
}

export function describeMachine(loadAtStart: number): Machine {
  const list = cpus();
  return {
    cpus: list.length,
    cpuModel: list[0]?.model ?? "unknown",
    memoryGb: Math.round(totalmem() / 1024 ** 3),
    os: `${process.platform} ${release()}`,
    node: process.version,
    loadAverage: { start: loadAtStart, end: Math.round((loadavg()[0] ?? 0) * 100) / 100 },
  };
}

const percent = (ratio: number) => `${(ratio * 100).toFixed(1)}%`;
const ms = (x: number) => (Number.isFinite(x) ? (x >= 100 ? x.toFixed(0) : x.toFixed(1)) : "–");
/** A memory probe's CPU cost, e.g. "CPU 812 ms per cycle". */
const cpu = (probe: { readonly cpuMsPerCycle: number }) =>
  `CPU ${probe.cpuMsPerCycle} ms per cycle`;

export function checkTargets(
  fleets: readonly CycleFigures[],
  creation: CreateFigures | null,
  flood: BenchResults["flood"],
  tracking: TriggerFigures | null = null,
): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const large = fleets.find((f) => f.fleet === "L");
  const small = fleets.find((f) => f.fleet === "S");
  if (large) {
    checks.push({
      target: "full resync (no-op) at L ≤ 3× its floor",
      met: large.cycleToFloor <= 3,
      figure: `${ms(large.cycleMs.median)} ms vs floor ${ms(large.floorMs.median)} ms = ${large.cycleToFloor.toFixed(1)}×`,
    });
    checks.push({
      target: "no-op incremental cycle at L ≤ 30 ms median",
      met: large.incrementalNoopMs.median <= 30,
      figure: `${ms(large.incrementalNoopMs.median)} ms`,
    });
    if (small) {
      const ratio = large.incrementalNoopMs.median / small.incrementalNoopMs.median;
      checks.push({
        target: "no-op incremental cycle at L within 2× of S",
        met: ratio <= 2,
        figure: `${ms(large.incrementalNoopMs.median)} ms vs ${ms(small.incrementalNoopMs.median)} ms = ${ratio.toFixed(2)}×`,
      });
    }
    checks.push({
      target: `incremental cycle with ${large.changedPresets} presets changed at L ≤ 60 ms median`,
      met: large.incrementalChangedMs.median <= 60,
      figure: `${ms(large.incrementalChangedMs.median)} ms (${Math.max(...large.incrementalChangedPresetsRead)} presets read at most)`,
    });
    checks.push({
      target: "full resync (no-op) at L ≤ 300 ms median",
      met: large.cycleMs.median <= 300,
      figure: `${ms(large.cycleMs.median)} ms`,
    });
    checks.push({
      target: "RSS ≤ 300 MB at L (reconciler-only process, with prebuildsd's launch flags)",
      met: large.reconcilerMemoryTuned.rssMbMax <= 300,
      figure:
        `${large.reconcilerMemoryTuned.rssMbMax} MB with ${large.reconcilerMemoryTuned.v8Flags.join(" ")} ` +
        `(src/cli/launchFlags.ts; ${cpu(large.reconcilerMemoryTuned)}); ${large.reconcilerMemory.rssMbMax} MB ` +
        `with Node's defaults (${cpu(large.reconcilerMemory)}) ` +
        `(harness process: ${large.harnessRssMbMax} MB)`,
    });
    checks.push({
      target: "claim latency at L, 10 concurrent claimers, p99 ≤ 10 ms",
      met: large.claims.p99Ms <= 10,
      figure:
        `p99 ${ms(large.claims.p99Ms)} ms, p50 ${ms(large.claims.latencyMs.median)} ms ` +
        `(${large.claims.claims} claims, ${large.claims.misses} found none); floor, a one-row ` +
        `update interleaved: p99 ${ms(large.claims.floorP99Ms)} ms, p50 ${ms(large.claims.floorMs.median)} ms`,
    });
    if (small) {
      const ratio = large.claims.p99Ms / small.claims.p99Ms;
      checks.push({
        target: "claim p99 at L within 2× of S",
        met: ratio <= 2,
        figure: `${ms(large.claims.p99Ms)} ms vs ${ms(small.claims.p99Ms)} ms = ${ratio.toFixed(2)}×`,
      });
    }
  }
  const huge = fleets.find((f) => f.fleet === "XL");
  if (huge) {
    checks.push({
      target:
        "RSS ≤ 500 MB at XL (reconciler-only process, with prebuildsd's launch flags; issue #16 asks XL's figures reported)",
      met: huge.reconcilerMemoryTuned.rssMbMax <= 500,
      figure:
        `${huge.reconcilerMemoryTuned.rssMbMax} MB with ${huge.reconcilerMemoryTuned.v8Flags.join(" ")} ` +
        `(${cpu(huge.reconcilerMemoryTuned)}), ${huge.reconcilerMemory.rssMbMax} MB with Node's defaults ` +
        `(${cpu(huge.reconcilerMemory)}); full resync ` +
        `${ms(huge.cycleMs.median)} ms (floor ${ms(huge.floorMs.median)} ms), incremental no-op ` +
        `${ms(huge.incrementalNoopMs.median)} ms, ${huge.changedPresets} presets changed ` +
        `${ms(huge.incrementalChangedMs.median)} ms`,
    });
  }
  if (fleets.length > 1) {
    const perFleet = fleets.map((f) => `${f.fleet}: ${Math.max(...f.statementsReported)}`);
    const distinct = new Set(fleets.map((f) => Math.max(...f.statementsReported)));
    checks.push({
      target: "round trips per cycle flat across fleets",
      met: distinct.size === 1,
      figure: perFleet.join(", "),
    });
  }
  if (tracking) {
    for (const [what, wall, cpu] of [
      [
        `creating ${tracking.prebuildsCreated} prebuilds (the cycle's create transactions, clones taking turns)`,
        tracking.createWrites,
        tracking.createWritesCpu,
      ],
      [
        `a provisioner completing ${tracking.jobsCompleted} jobs`,
        tracking.complete,
        tracking.completeCpu,
      ],
    ] as const) {
      const wallFigure = `${ms(wall.withTracking.median)} ms with the triggers vs ${ms(wall.withoutTracking.median)} ms without = ${percent(wall.overhead)}`;
      // Judged on the server's CPU time when it could be read (bench/triggerBench.ts says why).
      checks.push(
        cpu === null
          ? {
              target: `change tracking: ${what} ≤ 15% slower (wall clock)`,
              met: wall.overhead <= 0.15,
              figure: wallFigure,
            }
          : {
              target: `change tracking: ${what} ≤ 15% more server CPU`,
              met: cpu.overhead <= 0.15,
              figure: `${ms(cpu.withTracking.median)} ms of CPU with the triggers vs ${ms(cpu.withoutTracking.median)} ms without = ${percent(cpu.overhead)}; wall clock ${wallFigure}`,
            },
      );
    }
  }
  if (creation) {
    checks.push({
      target: `creating ${creation.prebuildsWanted} prebuilds ≤ 3× its floor`,
      met: creation.cycleToFloor <= 3,
      figure: `${ms(creation.cycleMs.median)} ms vs floor ${ms(creation.floorMs.median)} ms = ${creation.cycleToFloor.toFixed(1)}×`,
    });
  }
  if (flood) {
    checks.push({
      target: "flood: 0 old-version jobs started after the promotion cycle with CancelPending",
      met: flood.withCancel.oldStartJobsStartedAfterPromotionCycle === 0,
      figure: `${flood.withCancel.oldStartJobsStartedAfterPromotionCycle} (without CancelPending: ${flood.withoutCancel.oldStartJobsStartedAfterPromotionCycle})`,
    });
  }
  return checks;
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

export function formatResults(results: BenchResults): string {
  const out: string[] = [];
  const m = results.machine;
  out.push(
    `machine: ${m.cpus} × ${m.cpuModel}, ${m.memoryGb} GB, ${m.os}, Node ${m.node}, ` +
      `load average ${m.loadAverage.start} at start, ${m.loadAverage.end} at end`,
    `database: ${results.server.source}, ${results.server.version.split(" on ")[0]} ` +
      `(shared_buffers ${results.server.settings.shared_buffers}, fsync ${results.server.settings.fsync}, ` +
      `synchronous_commit ${results.server.settings.synchronous_commit})`,
    "",
  );
  if (results.fleets.length > 0) {
    out.push("No-op full resync (pools full), milliseconds, median / p95:");
    const pair = (s: { median: number; p95: number }) => `${ms(s.median)} / ${ms(s.p95)}`;
    out.push(
      table(
        [
          "fleet",
          "presets",
          "running",
          "snapshot",
          "plan",
          "execute",
          "cycle",
          "floor",
          "cycle÷floor",
          "round trips",
          "RSS MB",
          "tuned RSS",
        ],
        results.fleets.map((f) => [
          f.fleet,
          String(f.presets),
          String(f.runningPrebuilds),
          pair(f.snapshotMs),
          pair(f.planMs),
          pair(f.executeMs),
          pair(f.cycleMs),
          pair(f.floorMs),
          `${f.cycleToFloor.toFixed(1)}×`,
          `${Math.max(...f.statementsReported)} (+${Math.max(...f.statementsObserved) - Math.max(...f.statementsReported)})`,
          String(f.reconcilerMemory.rssMbMax),
          String(f.reconcilerMemoryTuned.rssMbMax),
        ]),
      ),
      "round trips: statements the cycle sends, as the reconciler counts them (+ those it does not count, e.g. recording the run, seen on the pool's connections).",
      `RSS: peak of a process that only reconciles, with Node's default flags; tuned: with ${results.fleets[0]?.reconcilerMemoryTuned.v8Flags.join(" ")}, as an installed prebuildsd runs (its shebang line).`,
      "",
      "Incremental cycles (issue #16), milliseconds, median / p95:",
      table(
        [
          "fleet",
          "no-op",
          "round trips",
          "presets changed",
          "changed",
          "presets read",
          "round trips",
        ],
        results.fleets.map((f) => [
          f.fleet,
          pair(f.incrementalNoopMs),
          String(Math.max(0, ...f.incrementalNoopStatements)),
          String(f.changedPresets),
          pair(f.incrementalChangedMs),
          String(Math.max(0, ...f.incrementalChangedPresetsRead)),
          String(Math.max(0, ...f.incrementalChangedStatements)),
        ]),
      ),
      "",
      "Where the snapshot goes (median ms per query, decoding included) and the floor's queries:",
      table(
        ["query", ...results.fleets.map((f) => f.fleet)],
        [...new Set(results.fleets.flatMap((f) => Object.keys(f.snapshotQueryMs)))]
          .map((name) => [
            name,
            ...results.fleets.map((f) => ms(f.snapshotQueryMs[name] ?? Number.NaN)),
          ])
          .concat(
            [...new Set(results.fleets.flatMap((f) => Object.keys(f.floorQueryMs)))].map((name) => [
              `floor: ${name}`,
              ...results.fleets.map((f) => ms(f.floorQueryMs[name] ?? Number.NaN)),
            ]),
          ),
      ),
      "",
    );
  }
  if (results.creation) {
    const c = results.creation;
    out.push(
      `Creating ${c.prebuildsWanted} prebuilds from empty (${c.presets} presets, concurrency ${c.concurrency}, ${c.repetitions} repetitions):`,
      table(
        ["", "median ms", "p95 ms"],
        [
          ["cycle", ms(c.cycleMs.median), ms(c.cycleMs.p95)],
          ["  snapshot", ms(c.snapshotMs.median), ms(c.snapshotMs.p95)],
          ["  execute", ms(c.executeMs.median), ms(c.executeMs.p95)],
          ["floor (one INSERT per table)", ms(c.floorMs.median), ms(c.floorMs.p95)],
        ],
      ),
      `cycle ÷ floor ${c.cycleToFloor.toFixed(1)}×; ${Math.max(...c.statementsReported)} statements; created ${c.prebuildsCreated.join(", ")}`,
      "",
    );
  }
  if (results.flood) {
    const runs = [
      results.flood.withCancel,
      results.flood.withoutCancel,
      results.flood.withCancelOrphanDeletesAtOnce,
    ];
    out.push(
      "Queue flood, then promotion:",
      table(
        ["", "CancelPending on", "CancelPending off", "on, orphan deletes at once"],
        [
          [
            "old create jobs started after the promotion cycle",
            ...runs.map((r) => String(r.oldStartJobsStartedAfterPromotionCycle)),
          ],
          ["jobs canceled", ...runs.map((r) => String(r.jobsCanceled))],
          [
            "new pools full after promotion (s)",
            ...runs.map((r) =>
              r.newPoolFullAfterS === null ? "timed out" : r.newPoolFullAfterS.toFixed(1),
            ),
          ],
          [
            "settled (old gone, queue empty) after (s)",
            ...runs.map((r) =>
              r.settledAfterS === null ? "timed out" : r.settledAfterS.toFixed(1),
            ),
          ],
          [
            "provisioner-s on old version: creates",
            ...runs.map((r) => r.oldProvisionerSeconds.start.toFixed(1)),
          ],
          [
            "provisioner-s on old version: deletes",
            ...runs.map((r) => r.oldProvisionerSeconds.delete.toFixed(1)),
          ],
          ["cycles (median ms)", ...runs.map((r) => `${r.cycles} (${ms(r.cycleMsMedian)})`)],
        ],
      ),
      "",
    );
  }
  if (results.tracking) {
    const t = results.tracking;
    const row = (name: string, f: TriggerFigures["create"] | null) =>
      f === null
        ? [name, "–", "–", "–"]
        : [name, ms(f.withTracking.median), ms(f.withoutTracking.median), percent(f.overhead)];
    out.push(
      `Change tracking's cost to writers (${t.repetitions} repetitions each, median ms):`,
      table(
        ["", "with triggers", "without", "overhead"],
        [
          row(`create cycle, ${t.prebuildsCreated} prebuilds: wall clock`, t.create),
          row("  server CPU", t.createCpu),
          row("its create transactions alone, clones taking turns: wall clock", t.createWrites),
          row("  server CPU", t.createWritesCpu),
          row(`provisioner completing ${t.jobsCompleted} jobs: wall clock`, t.complete),
          row("  server CPU", t.completeCpu),
        ],
      ),
      "",
    );
  }
  out.push("Targets:");
  for (const t of results.targets)
    out.push(`  [${t.met ? "met   " : "MISSED"}] ${t.target}: ${t.figure}`);
  return out.join("\n");
}

// Issue #13's benchmark: the flood promotion scenario (bench/flood.ts) once per cancel policy,
// with the in-flight cap off and on, and the free deletes off ("before") and on, each on a fresh
// database, in one run, as one table: provisioner-seconds spent on stale (old-version) work after
// the promotion, and the time from the promotion to a fully fresh pool.
import type { CancelPolicy } from "../src/plan/index.ts";
import type { BenchServer } from "./benchServer.ts";
import { type FloodOptions, type FloodRun, runOnce, type Variant } from "./flood.ts";

/** The cap of the capped runs (a fifth of the 100 prebuilds the scenario wants). */
export const FLOOD_CAP = 20;

export interface CancellationRow {
  readonly policy: CancelPolicy;
  readonly cap: number | null;
  readonly freeDeletes: boolean;
  readonly run: FloodRun;
}

const VARIANTS: readonly { policy: CancelPolicy; cap: number | null; freeDeletes: boolean }[] = [
  { policy: "pending", cap: null, freeDeletes: false },
  { policy: "pending", cap: null, freeDeletes: true },
  { policy: "retain", cap: null, freeDeletes: true },
  { policy: "running", cap: null, freeDeletes: true },
  { policy: "pending", cap: FLOOD_CAP, freeDeletes: true },
  { policy: "retain", cap: FLOOD_CAP, freeDeletes: true },
  { policy: "running", cap: FLOOD_CAP, freeDeletes: true },
];

/** Every variant, one after another on the same server. */
export async function benchCancellation(
  server: BenchServer,
  options: FloodOptions,
): Promise<CancellationRow[]> {
  options.log(
    `cancellation: the flood scenario (${options.provisioners} provisioners × ${options.jobDurationMs} ms jobs, ` +
      `${options.desired.join(" + ")} prebuilds) per cancel policy, cap off and ${FLOOD_CAP}`,
  );
  const rows: CancellationRow[] = [];
  for (const v of VARIANTS) {
    const name = `c13_${v.policy}_${v.cap ?? "nocap"}_${v.freeDeletes ? "free" : "queued"}`;
    const variant: Variant = {
      name,
      label: `${v.policy}, cap ${v.cap ?? "off"}${v.freeDeletes ? "" : ", free deletes off"}`,
      cancelPending: true,
      orphanDeletesAtOnce: false,
      policy: v.policy,
      freeDeletes: v.freeDeletes,
      ...(v.cap !== null && { maxInflightJobs: v.cap }),
    };
    rows.push({ ...v, run: await runOnce(server, variant, options) });
  }
  return rows;
}

const fmt = (x: number | null) => (x === null ? "timeout" : x.toFixed(1));

/** The table docs/benchmarks.md shows. */
export function formatCancellation(rows: readonly CancellationRow[]): string {
  const header = [
    "policy",
    "cap",
    "free deletes",
    "stale provisioner-s (start + delete)",
    "fresh pool after (s)",
    "settled after (s)",
    "jobs canceled",
  ];
  const lines = rows.map((r) => {
    const stale = r.run.oldProvisionerSeconds.start + r.run.oldProvisionerSeconds.delete;
    return [
      r.policy,
      r.cap === null ? "off" : String(r.cap),
      r.freeDeletes ? "on" : "off (before)",
      `${stale.toFixed(1)} (${r.run.oldProvisionerSeconds.start.toFixed(1)} + ${r.run.oldProvisionerSeconds.delete.toFixed(1)})`,
      fmt(r.run.newPoolFullAfterS),
      fmt(r.run.settledAfterS),
      String(r.run.jobsCanceled),
    ];
  });
  const all = [header, ...lines];
  return all
    .map((cells) => `| ${cells.join(" | ")} |`)
    .join("\n")
    .replace(/\n/, `\n|${header.map(() => "---").join("|")}|\n`);
}

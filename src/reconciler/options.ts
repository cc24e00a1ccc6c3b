// The reconciler's knobs, with the reference's defaults (§9). Durations are milliseconds; the
// config room parses "1m"-style values and passes the numbers here. Defaults that are settings come
// from the settings table (config/settings.ts), their one home.
import { settingDefault } from "../config/config.ts";
import { defaultConcurrency } from "../config/defaultConcurrency.ts";

export interface ReconcilerOptions {
  /** Backoff step per failed build: a preset waits numFailed × this after its last failure. 1m. */
  readonly backoffInterval: number;
  /** Only failures newer than this count toward backoff. 1h. */
  readonly backoffLookback: number;
  /** Consecutive failed builds that stop a preset creating (hard_limited); 0 disables. 3. */
  readonly failureHardLimit: number;
  /** Cap on prebuild jobs in flight (PREBUILDS_MAX_INFLIGHT_JOBS, issue #13): deletes are
   *  admitted first, creates to the emptiest pools first (src/plan/admission.ts). null: no cap. */
  readonly maxInflightJobs: number | null;
  /** Presets reconciled at once. Default clamp(pool size / 2, 1, 5), as the reference. */
  readonly concurrency: number | undefined;
  /** A provisioner daemon unseen for this long counts as gone, so an orphan delete of a canceled
   *  prebuild completes at once instead of waiting for nobody. 90s. */
  readonly provisionerStaleAfter: number;
  /** Cancel pending first builds of inactive presets (the benchmark compares with and without;
   *  operators may keep old jobs). true. */
  readonly cancelPendingEnabled: boolean;
  /** Complete the orphan delete of a never-provisioned prebuild at once, with no provisioner
   *  (issue #13). true; false reproduces the behaviour before, for the benchmark's before/after. */
  readonly freeDeletes: boolean;
  /** A job a worker holds without a heartbeat (updated_at) for this long is hung: each cycle
   *  fails it, or completes it as canceled (issue #12). 5 min, as the reference's platform. */
  readonly jobHangTimeout: number;
  /** Delete prebuilds whose latest build is a stop that succeeded or failed, so the pool is
   *  refilled (issue #15; the reference leaves them). false. */
  readonly replaceStopped: boolean;
  /** A surge rollout's bound: the old version's prebuilds go at the latest this long after the
   *  promotion (issue #15). 30 min. */
  readonly rolloutMaxWait: number;
  /** Provisioner tags on every job the reconciler queues. {"scope":"organization"}. */
  readonly jobTags: Readonly<Record<string, string>>;
  /** The process's clock: only the cycle report's and run record's start and finish. Planning uses
   *  the database's clock read in the snapshot, and every timestamp the executor writes is the
   *  database's now() (one clock, issue #11). */
  readonly now: () => Date;
  /** Plan for this instant instead of the database's clock (tests and `plan --at` only; the
   *  daemon never sets it). Writes are still stamped by the database. */
  readonly planAt: (() => Date) | undefined;
  /** Milliseconds between full resyncs (issue #16): a cycle at least this long after the last
   *  full resync of any replica reads every preset; others read only the presets marked dirty or
   *  due. 0 makes every cycle a full resync. 10 min. */
  readonly fullResyncInterval: number;
  /** Cycles kept in prebuild_reconciliation_runs (older ones are pruned). 1000. */
  readonly keepRuns: number;
  /** Record each cycle in prebuild_reconciliation_runs (for `status`). true. */
  readonly recordRuns: boolean;
}

/** The tags every prebuild job carries unless configured otherwise (reference: org-scoped). */
export const DEFAULT_JOB_TAGS: Readonly<Record<string, string>> = { scope: "organization" };

export const DEFAULT_RECONCILER_OPTIONS: ReconcilerOptions = {
  backoffInterval: settingDefault("backoffInterval"),
  backoffLookback: settingDefault("backoffLookback"),
  failureHardLimit: settingDefault("failureHardLimit"),
  maxInflightJobs: null,
  concurrency: undefined,
  provisionerStaleAfter: settingDefault("provisionerStaleAfter"),
  cancelPendingEnabled: settingDefault("cancelPending"),
  freeDeletes: true,
  jobHangTimeout: settingDefault("jobHangTimeout"),
  replaceStopped: settingDefault("replaceStopped"),
  rolloutMaxWait: settingDefault("rolloutMaxWait"),
  jobTags: DEFAULT_JOB_TAGS,
  now: () => new Date(),
  planAt: undefined,
  fullResyncInterval: 600_000,
  keepRuns: 1000,
  recordRuns: true,
};

export function resolveOptions(
  options: Partial<ReconcilerOptions> | undefined,
  poolSize: number,
): ReconcilerOptions & { readonly concurrency: number } {
  const merged = { ...DEFAULT_RECONCILER_OPTIONS, ...stripUndefined(options ?? {}) };
  const concurrency =
    merged.concurrency !== undefined &&
    Number.isFinite(merged.concurrency) &&
    merged.concurrency >= 1
      ? Math.floor(merged.concurrency)
      : defaultConcurrency(poolSize);
  return { ...merged, concurrency };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

// Prometheus metrics: the reference's names and labels (§8) so existing Coder dashboards work,
// plus the controller's own. Preset gauges and the DB-derived totals are served from a cached
// sample (`setStateSample`) refreshed on its own schedule: a scrape never queries the database.

import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import {
  ACTION_NAMES,
  ACTION_OUTCOMES,
  type ActionName,
  type ActionOutcome,
} from "../plan/action.ts";

/** Labels of every per-preset series, as in the reference. */
export interface PresetLabels {
  readonly templateName: string;
  readonly presetName: string;
  readonly organizationName: string;
}

interface PresetGauges extends PresetLabels {
  readonly desired: number;
  readonly running: number;
  readonly eligible: number;
}

interface PresetTotals extends PresetLabels {
  readonly created: number;
  readonly failed: number;
  readonly claimed: number;
}

/** Successful first builds of workspaces users created themselves (not prebuilds), per
 *  template, preset (`""` when none) and organization: the denominator of the claim hit rate. */
interface RegularCreations extends PresetLabels {
  readonly created: number;
}

/** Who initiated a provisioner job: the prebuilds system user, or anyone else. */
const JOB_INITIATORS = ["prebuilds", "user"] as const;
type JobInitiator = (typeof JOB_INITIATORS)[number];
const QUEUED_JOB_STATUSES = ["pending", "running"] as const;
type QueuedJobStatus = (typeof QUEUED_JOB_STATUSES)[number];

/** The provisioner queue as the sampler saw it (issue #14): job counts by status and initiator,
 *  and the age in seconds of the oldest pending job per initiator (0 when none is pending),
 *  measured by the database clock. */
export interface JobQueueSample {
  readonly jobs: Readonly<Record<QueuedJobStatus, Readonly<Record<JobInitiator, number>>>>;
  readonly oldestPendingAgeSeconds: Readonly<Record<JobInitiator, number>>;
  /** Workspace build jobs pending or running per template and initiator, with the age of the
   *  oldest (issue #13); a template with none has no row. Absent: not sampled. */
  readonly byTemplate?: readonly {
    readonly templateName: string;
    readonly status: QueuedJobStatus;
    readonly initiator: JobInitiator;
    readonly jobs: number;
    readonly oldestSeconds: number;
  }[];
  /** Prebuild jobs pending, running or canceling (what PREBUILDS_MAX_INFLIGHT_JOBS caps). */
  readonly inflightPrebuildJobs?: number;
  /** PREBUILDS_MAX_INFLIGHT_JOBS; null: no cap. */
  readonly inflightCap?: number | null;
}

/** What the state gauges show, taken outside the reconciliation lock. */
export interface StateSample {
  /** Active presets of non-deleted templates only (reference §12.21). */
  readonly presets: readonly PresetGauges[];
  readonly hardLimited: readonly PresetLabels[];
  readonly validationFailed: readonly PresetLabels[];
  readonly totals: readonly PresetTotals[];
  readonly regularCreations: readonly RegularCreations[];
  readonly jobQueue: JobQueueSample;
  readonly paused: boolean;
  readonly takenAt: Date;
  /** Surge rollouts in progress (issue #15); absent: none. */
  readonly rollouts?: readonly RolloutGauges[];
}

/** One template's surge rollout, as the prebuildsd_rollout_* gauges show it. */
interface RolloutGauges {
  readonly templateName: string;
  readonly oldEligible: number;
  readonly newEligible: number;
  readonly newDesired: number;
  /** Unix seconds of the promotion that started it. */
  readonly startedAtSeconds: number;
}

const ACTION_TYPES: readonly ActionName[] = Object.values(ACTION_NAMES);
/** completed: every preset was handled; paused and not_leader do nothing by design; failed: the
 *  cycle itself could not run (database away, snapshot failed). */
const CYCLE_OUTCOMES = ["completed", "paused", "not_leader", "failed"] as const;
export type CycleOutcome = (typeof CYCLE_OUTCOMES)[number];

/** prom-client default metrics that are gauges named like counters (issue #14). */
export const MISNAMED_DEFAULT_METRICS = [
  "nodejs_active_handles_total",
  "nodejs_active_requests_total",
  "nodejs_active_resources_total",
] as const;

const PRESET_LABELS = ["template_name", "preset_name", "organization_name"] as const;
type PresetLabelName = (typeof PRESET_LABELS)[number];

function labelsOf(p: PresetLabels): Record<PresetLabelName, string> {
  return {
    template_name: p.templateName,
    preset_name: p.presetName,
    organization_name: p.organizationName,
  };
}

type Fill = (
  metric: Gauge<PresetLabelName> | Counter<PresetLabelName>,
  sample: StateSample,
) => void;

const regularCreations: Fill = (metric, sample) => {
  for (const r of sample.regularCreations) {
    (metric as Counter<PresetLabelName>).inc(labelsOf(r), r.created);
  }
};
const totals =
  (pick: (t: PresetTotals) => number): Fill =>
  (metric, sample) => {
    for (const t of sample.totals) (metric as Counter<PresetLabelName>).inc(labelsOf(t), pick(t));
  };
const gauges =
  (pick: (p: PresetGauges) => number): Fill =>
  (metric, sample) => {
    for (const p of sample.presets) (metric as Gauge<PresetLabelName>).set(labelsOf(p), pick(p));
  };
const flagged =
  (pick: (s: StateSample) => readonly PresetLabels[]): Fill =>
  (metric, sample) => {
    for (const p of pick(sample)) (metric as Gauge<PresetLabelName>).set(labelsOf(p), 1);
  };

// Series served from the cached sample: rebuilt on each scrape from memory, never from the database.
const CACHED_SERIES: readonly {
  readonly kind: "counter" | "gauge";
  readonly name: string;
  readonly help: string;
  readonly fill: Fill;
}[] = [
  {
    kind: "counter",
    name: "coderd_prebuilt_workspaces_created_total",
    help: "Total number of prebuilt workspaces that have been created to meet the desired instance count of each template preset.",
    fill: totals((t) => t.created),
  },
  {
    kind: "counter",
    name: "coderd_prebuilt_workspaces_failed_total",
    help: "Total number of prebuilt workspaces that failed to build.",
    fill: totals((t) => t.failed),
  },
  {
    kind: "counter",
    name: "coderd_prebuilt_workspaces_claimed_total",
    help: "Total number of prebuilt workspaces which were claimed by users.",
    fill: totals((t) => t.claimed),
  },
  {
    kind: "counter",
    name: "coderd_workspace_creation_total",
    help: "Total regular (non-prebuilt) workspace creations, counted from successful first builds not initiated by the prebuilds user.",
    fill: regularCreations,
  },
  {
    kind: "gauge",
    name: "coderd_prebuilt_workspaces_desired",
    help: "Target number of prebuilt workspaces that should be available for each template preset.",
    fill: gauges((p) => p.desired),
  },
  {
    kind: "gauge",
    name: "coderd_prebuilt_workspaces_running",
    help: "Current number of prebuilt workspaces that are in a running state (expired ones included).",
    fill: gauges((p) => p.running),
  },
  {
    kind: "gauge",
    name: "coderd_prebuilt_workspaces_eligible",
    help: "Current number of prebuilt workspaces that are eligible to be claimed.",
    fill: gauges((p) => p.eligible),
  },
  {
    kind: "gauge",
    name: "coderd_prebuilt_workspaces_preset_hard_limited",
    help: "Indicates whether a given preset has reached the hard failure limit (1 = hard-limited; series omitted otherwise).",
    fill: flagged((s) => s.hardLimited),
  },
  {
    kind: "gauge",
    name: "coderd_prebuilt_workspaces_preset_validation_failed",
    help: "Indicates whether a given preset failed parameter validation (1 = failed; series omitted otherwise).",
    fill: flagged((s) => s.validationFailed),
  },
];

export class PrebuildMetrics {
  readonly registry = new Registry();
  private sample: StateSample | null = null;

  private readonly lastUpdated: Gauge;
  private readonly paused: Gauge;
  readonly reconciliationDuration: Histogram;

  // The controller's own.
  readonly actions: Counter<"type" | "outcome">;
  readonly cycles: Counter<"outcome">;
  readonly cycleErrors: Counter;
  readonly lockHeld: Gauge;
  readonly lastSuccessfulCycle: Gauge;
  readonly stateRefreshErrors: Counter;
  /** Hung jobs the cycle finished (issue #12), by the status they got. */
  readonly hungJobsRecovered: Counter<"status">;
  private readonly provisionerJobs: Gauge<"status" | "initiator">;
  private readonly oldestPendingJobAge: Gauge<"initiator">;
  private readonly jobsByTemplate: Gauge<"template_name" | "status" | "initiator">;
  private readonly oldestPendingByTemplate: Gauge<"template_name" | "initiator">;
  private readonly inflight: Gauge;
  private readonly inflightCap: Gauge;
  /** Prebuild jobs this replica's cycles canceled (or asked to cancel), by template and cancel
   *  policy (issue #13). A series appears with a template's first cancellation. */
  readonly jobsCanceled: Counter<"template" | "policy">;

  /**
   * `reconciliationIntervalMs`: the configured PREBUILDS_RECONCILIATION_INTERVAL, exported so
   * alerts can speak in intervals (deploy/prometheus/alerts.yml); 0 when not given.
   * `processMetrics`: register prom-client's Node.js process metrics (default true).
   */
  constructor(
    options: { readonly processMetrics?: boolean; readonly reconciliationIntervalMs?: number } = {},
  ) {
    const registers = [this.registry];
    const metrics = this;
    for (const series of CACHED_SERIES) {
      const config = {
        name: series.name,
        help: series.help,
        labelNames: PRESET_LABELS,
        registers,
        collect(this: Gauge<PresetLabelName> | Counter<PresetLabelName>) {
          this.reset();
          if (metrics.sample) series.fill(this, metrics.sample);
        },
      };
      if (series.kind === "gauge") new Gauge(config);
      else new Counter(config);
    }
    this.lastUpdated = new Gauge({
      name: "coderd_prebuilt_workspaces_metrics_last_updated",
      help: "The unix timestamp when the metrics related to prebuilt workspaces were last updated; these metrics are cached.",
      registers,
      collect: () => {
        this.lastUpdated.set(this.sample ? this.sample.takenAt.getTime() / 1000 : 0);
      },
    });
    this.paused = new Gauge({
      name: "coderd_prebuilt_workspaces_reconciliation_paused",
      help: "Indicates whether prebuilds reconciliation is currently paused (1 = paused, 0 = not paused).",
      registers,
    });
    this.paused.set(0);
    this.reconciliationDuration = new Histogram({
      name: "coderd_prebuilds_reconciliation_duration_seconds",
      help: "Duration of each prebuilds reconciliation cycle.",
      // Prometheus' DefBuckets, as the reference uses.
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });

    this.actions = new Counter({
      name: "prebuildsd_actions_total",
      help: "Actions carried out by this replica, by type (create, delete, backoff, cancel_pending) and outcome (success, failure, skipped).",
      labelNames: ["type", "outcome"],
      registers,
    });
    for (const type of ACTION_TYPES) {
      for (const outcome of ACTION_OUTCOMES) this.actions.inc({ type, outcome }, 0);
    }
    this.cycles = new Counter({
      name: "prebuildsd_reconciliation_cycles_total",
      help: "Reconciliation cycles run by this replica, by outcome (completed, paused, not_leader, failed).",
      labelNames: ["outcome"],
      registers,
    });
    for (const outcome of CYCLE_OUTCOMES) this.cycles.inc({ outcome }, 0);
    this.cycleErrors = new Counter({
      name: "prebuildsd_reconciliation_cycle_errors_total",
      help: "Cycles that could not run (database unreachable, snapshot failed); the loop goes on.",
      registers,
    });
    this.lockHeld = new Gauge({
      name: "prebuildsd_reconciliation_lock_held",
      help: "1 while this replica holds the reconciliation lock (during a cycle it leads), else 0.",
      registers,
    });
    this.lockHeld.set(0);
    this.lastSuccessfulCycle = new Gauge({
      name: "prebuildsd_last_successful_cycle_timestamp_seconds",
      help: "Unix time at which this replica last finished a cycle without a cycle error (0 if never).",
      registers,
    });
    this.lastSuccessfulCycle.set(0);
    new Gauge({
      name: "prebuildsd_reconciliation_interval_seconds",
      help: "The configured time between the end of one cycle and the start of the next (PREBUILDS_RECONCILIATION_INTERVAL).",
      registers,
    }).set((options.reconciliationIntervalMs ?? 0) / 1000);
    this.stateRefreshErrors = new Counter({
      name: "prebuildsd_metrics_refresh_errors_total",
      help: "Failed refreshes of the cached state behind the coderd_prebuilt_workspaces_* gauges.",
      registers,
    });
    const rolloutGauge = (name: string, help: string, pick: (r: RolloutGauges) => number) => {
      const gauge: Gauge<"template_name"> = new Gauge({
        name,
        help,
        labelNames: ["template_name"],
        registers,
        collect: () => {
          gauge.reset();
          for (const r of this.sample?.rollouts ?? []) {
            gauge.set({ template_name: r.templateName }, pick(r));
          }
        },
      });
    };
    rolloutGauge(
      "prebuildsd_rollout_old_eligible",
      "Surge rollouts in progress (issue #15): eligible prebuilds the previous version still serves, per template.",
      (r) => r.oldEligible,
    );
    rolloutGauge(
      "prebuildsd_rollout_new_eligible",
      "Surge rollouts in progress: eligible prebuilds of the active version's presets that replace them, per template.",
      (r) => r.newEligible,
    );
    rolloutGauge(
      "prebuildsd_rollout_new_desired",
      "Surge rollouts in progress: desired prebuilds of the active version's presets that replace the previous version's, per template.",
      (r) => r.newDesired,
    );
    rolloutGauge(
      "prebuildsd_rollout_started_timestamp_seconds",
      "Surge rollouts in progress: when the promotion that started each one happened (Unix seconds).",
      (r) => r.startedAtSeconds,
    );
    this.provisionerJobs = new Gauge({
      name: "prebuildsd_provisioner_jobs",
      help: "Provisioner jobs pending or running (status), initiated by the prebuilds user or anyone else (initiator), as of the cached sample.",
      labelNames: ["status", "initiator"],
      registers,
      collect: () => {
        this.provisionerJobs.reset();
        const queue = this.sample?.jobQueue;
        if (!queue) return;
        for (const status of QUEUED_JOB_STATUSES) {
          for (const initiator of JOB_INITIATORS) {
            this.provisionerJobs.set({ status, initiator }, queue.jobs[status][initiator]);
          }
        }
      },
    });
    this.oldestPendingJobAge = new Gauge({
      name: "prebuildsd_provisioner_job_oldest_pending_age_seconds",
      help: "Seconds the oldest pending provisioner job of each initiator had waited when the cached sample was taken (0 when none is pending).",
      labelNames: ["initiator"],
      registers,
      collect: () => {
        this.oldestPendingJobAge.reset();
        const queue = this.sample?.jobQueue;
        if (!queue) return;
        for (const initiator of JOB_INITIATORS) {
          this.oldestPendingJobAge.set({ initiator }, queue.oldestPendingAgeSeconds[initiator]);
        }
      },
    });
    this.jobsByTemplate = new Gauge({
      name: "prebuildsd_provisioner_jobs_by_template",
      help: "Workspace build jobs pending or running (status), per template, initiated by the prebuilds user or anyone else (initiator), as of the cached sample.",
      labelNames: ["template_name", "status", "initiator"],
      registers,
      collect: () => {
        this.jobsByTemplate.reset();
        for (const row of this.sample?.jobQueue.byTemplate ?? []) {
          this.jobsByTemplate.set(
            { template_name: row.templateName, status: row.status, initiator: row.initiator },
            row.jobs,
          );
        }
      },
    });
    this.oldestPendingByTemplate = new Gauge({
      name: "prebuildsd_provisioner_job_oldest_pending_age_by_template_seconds",
      help: "Seconds the oldest pending workspace build job of each template and initiator had waited when the cached sample was taken (series absent when none is pending).",
      labelNames: ["template_name", "initiator"],
      registers,
      collect: () => {
        this.oldestPendingByTemplate.reset();
        for (const row of this.sample?.jobQueue.byTemplate ?? []) {
          if (row.status !== "pending") continue;
          this.oldestPendingByTemplate.set(
            { template_name: row.templateName, initiator: row.initiator },
            row.oldestSeconds,
          );
        }
      },
    });
    this.inflight = new Gauge({
      name: "prebuildsd_prebuild_jobs_in_flight",
      help: "Prebuild jobs pending, running or canceling (what PREBUILDS_MAX_INFLIGHT_JOBS caps), as of the cached sample.",
      registers,
      collect: () => {
        this.inflight.set(this.sample?.jobQueue.inflightPrebuildJobs ?? 0);
      },
    });
    this.inflightCap = new Gauge({
      name: "prebuildsd_prebuild_jobs_in_flight_cap",
      help: "The configured PREBUILDS_MAX_INFLIGHT_JOBS (0: no cap).",
      registers,
      collect: () => {
        this.inflightCap.set(this.sample?.jobQueue.inflightCap ?? 0);
      },
    });
    this.jobsCanceled = new Counter({
      name: "prebuildsd_jobs_canceled_total",
      help: "Prebuild jobs this replica's cycles canceled (pending) or asked to cancel (running), by template and the template's cancel policy (pending, running).",
      labelNames: ["template", "policy"],
      registers,
    });
    this.hungJobsRecovered = new Counter({
      name: "prebuildsd_hung_jobs_recovered_total",
      help: "Jobs a worker held without a heartbeat for PREBUILDS_JOB_HANG_TIMEOUT that a cycle finished, by the status they got (failed: was running; canceled: was canceling).",
      labelNames: ["status"],
      registers,
    });
    for (const status of ["failed", "canceled"]) this.hungJobsRecovered.inc({ status }, 0);
    if (options.processMetrics ?? true) {
      collectDefaultMetrics({ register: this.registry });
      // Gauges whose names end in _total, which Prometheus reserves for counters (`promtool check
      // metrics` rejects them); the same numbers per type stay in nodejs_active_{handles,requests,resources}.
      for (const name of MISNAMED_DEFAULT_METRICS) this.registry.removeSingleMetric(name);
    }
  }

  /** Replace the cached state the preset gauges and totals are served from. */
  setStateSample(sample: StateSample): void {
    this.sample = sample;
    this.paused.set(sample.paused ? 1 : 0);
  }

  setPaused(paused: boolean): void {
    this.paused.set(paused ? 1 : 0);
  }

  recordAction(type: ActionName, outcome: ActionOutcome, count = 1): void {
    this.actions.inc({ type, outcome }, count);
  }

  /** One finished cycle; `seconds` is its wall time. */
  recordCycle(outcome: CycleOutcome, seconds: number, finishedAt: Date): void {
    this.cycles.inc({ outcome });
    this.reconciliationDuration.observe(seconds);
    if (outcome === "failed") this.cycleErrors.inc();
    else this.lastSuccessfulCycle.set(finishedAt.getTime() / 1000);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

// What the status page shows (src/http/statusPage.ts), read in one READ ONLY REPEATABLE READ
// transaction: the cycle's own snapshot and plan (active presets, and inactive ones with work
// left), the provisioner queue and the last recorded cycles. Called through a cache
// (src/http/cachedValue.ts), never once per request.

import type { Config } from "../config/config.ts";
import type { Database } from "../db/pool.ts";
import {
  countPresetsInFleet,
  countProvisionerQueue,
  listRecentReconciliationRuns,
} from "../db/sql/status_sql.ts";
import { withTransaction } from "../db/transaction.ts";
import { cachedValue } from "../http/cachedValue.ts";
import {
  renderStatusPage,
  type StatusPageAction,
  type StatusPageData,
  type StatusPagePreset,
} from "../http/statusPage.ts";
import { ACTION_NAMES } from "../plan/action.ts";
import {
  type Action,
  type CreateCap,
  DEFAULT_CANCEL_POLICY,
  describeCap,
  heldBackCreates,
  type PlannedPreset,
  planAll,
  startingShown,
} from "../plan/index.ts";
import {
  describeFailingCreate,
  type MissingParameters,
  readMissingParameters,
} from "../snapshot/missingParameters.ts";
import { readPrebuildsSettings } from "../snapshot/prebuildsSettings.ts";
import { takeSnapshot } from "../snapshot/takeSnapshot.ts";

/** Rows kept on the page; the rest are counted and left to `prebuildsd plan`. */
const STATUS_PAGE_MAX_PRESETS = 500;
const STATUS_PAGE_CYCLES = 10;

/** One action as `prebuildsd plan` words it: a create the in-flight cap held back says so. */
function pageAction(action: Action, cap: CreateCap | undefined): StatusPageAction {
  switch (action._tag) {
    case "Create":
      return {
        type: ACTION_NAMES.Create,
        summary:
          cap === undefined
            ? `create ${action.count}`
            : `create ${cap.granted} of ${cap.wanted} (${describeCap(cap)})`,
        reason: action.reason,
      };
    case "Delete":
      return {
        type: ACTION_NAMES.Delete,
        summary: `delete ${action.workspaceIds.length}`,
        reason: action.reason,
      };
    case "Backoff":
      return {
        type: ACTION_NAMES.Backoff,
        summary: `backoff until ${action.until.toISOString()}`,
        reason: action.reason,
      };
    case "CancelPending": {
      const what = [`cancel ${action.pendingCount} pending`];
      if (action.runningCount > 0) what.push(`ask ${action.runningCount} running to cancel`);
      if (action.orphanCount > 0) what.push(`delete ${action.orphanCount} canceled`);
      return { type: ACTION_NAMES.CancelPending, summary: what.join(", "), reason: action.reason };
    }
  }
}

/**
 * The preset's actions on the page. A preset the cap (PREBUILDS_MAX_INFLIGHT_JOBS, issue #13) held
 * back entirely has no Create in its plan: it gets a "create 0 of N" line, as in `prebuildsd plan`,
 * instead of "nothing to do".
 */
function pageActions(p: PlannedPreset): StatusPageAction[] {
  const cap = p.plan.capped;
  const actions = p.plan.actions.map((a) => pageAction(a, cap));
  if (cap !== undefined && cap.granted === 0) {
    actions.push({
      type: ACTION_NAMES.Create,
      summary: `create 0 of ${cap.wanted} (${describeCap(cap)})`,
      reason:
        "PREBUILDS_MAX_INFLIGHT_JOBS holds its creates back until prebuild jobs in flight finish",
    });
  }
  return actions;
}

function pagePreset(p: PlannedPreset, missing: MissingParameters): StatusPagePreset {
  const names = missing.get(p.preset.presetId);
  return {
    organizationName: p.preset.organizationName,
    templateName: p.preset.templateName,
    versionName: p.preset.templateVersionName,
    presetName: p.preset.presetName,
    active: p.plan.active,
    health: p.snapshot.isHardLimited ? "hard_limited" : p.preset.prebuildStatus,
    cancelPolicy: p.preset.cancelPolicy ?? DEFAULT_CANCEL_POLICY,
    desired: p.plan.state.desired,
    running: p.plan.state.actual,
    eligible: p.plan.state.eligible,
    starting: startingShown(p),
    deleting: p.plan.state.deleting,
    actions: pageActions(p),
    warnings: [...p.plan.warnings, ...(names ? [describeFailingCreate(names)] : [])],
  };
}

/** Unhealthy first, then presets with work, then by template, version (active first), preset. */
function order(a: StatusPagePreset, b: StatusPagePreset): number {
  const rank = (p: StatusPagePreset) =>
    (p.health === "healthy" ? 2 : 0) + (p.actions.length > 0 || p.warnings.length > 0 ? 0 : 1);
  return (
    rank(a) - rank(b) ||
    a.templateName.localeCompare(b.templateName) ||
    Number(b.active) - Number(a.active) ||
    a.versionName.localeCompare(b.versionName) ||
    a.presetName.localeCompare(b.presetName)
  );
}

async function readStatusPageData(
  db: Database,
  config: Pick<Config, "backoffLookback" | "failureHardLimit" | "backoffInterval"> &
    Partial<
      Pick<Config, "maxInflightJobs" | "replaceStopped" | "rolloutMaxWait" | "cancelPending">
    >,
  _now: Date, // unused: planned at the database clock (issue #11); kept for callers
  signal?: AbortSignal,
): Promise<StatusPageData> {
  return withTransaction(
    db,
    { isolation: "repeatable read", readOnly: true, signal },
    async (client) => {
      const settings = await readPrebuildsSettings(client);
      // One clock (issue #11): plan at the database's clock read in the snapshot.
      const snapshot = await takeSnapshot(client, {
        backoffLookback: config.backoffLookback,
        failureHardLimit: config.failureHardLimit,
        replaceStopped: config.replaceStopped,
      });
      const queue = await countProvisionerQueue(client);
      const runs = await listRecentReconciliationRuns(client, { maxRuns: STATUS_PAGE_CYCLES });
      const fleet = await countPresetsInFleet(client);
      const planned = planAll(snapshot, snapshot.at, {
        backoffInterval: config.backoffInterval,
        maxInflightJobs: config.maxInflightJobs ?? null,
        rolloutMaxWait: config.rolloutMaxWait,
        cancelPendingEnabled: config.cancelPending,
      }).filter((p) => !p.skipped || p.plan.active);
      const missing = await readMissingParameters(
        client,
        planned
          .filter((p) => p.plan.actions.some((a) => a._tag === "Create"))
          .map((p) => p.preset.presetId),
      );
      const shown = planned.map((p) => pagePreset(p, missing)).sort(order);
      return {
        plannedAt: snapshot.at,
        paused: settings.reconciliationPaused,
        presets: shown.slice(0, STATUS_PAGE_MAX_PRESETS),
        presetsOmitted: Math.max(0, shown.length - STATUS_PAGE_MAX_PRESETS),
        presetsInFleet: fleet?.presets ?? 0,
        heldBack: heldBackCreates(planned.map((p) => p.plan.capped)),
        queue: queue ?? { pending: 0, pendingPrebuilds: 0, running: 0, runningPrebuilds: 0 },
        cycles: runs,
      };
    },
  );
}

export interface StatusPageSourceOptions {
  readonly version: string;
  /** A read younger than this is reused (ms). Default 5 s. */
  readonly ttlMs?: number;
  /** A read still running after this long is abandoned (ms). Default 10 s. */
  readonly timeoutMs?: number;
  /** How long a request waits for a running read before it gets the last one (ms). Default 1 s. */
  readonly waitMs?: number;
  /** The page reloads itself this often (s). Default 10. */
  readonly refreshSeconds?: number;
}

export interface StatusPageSource {
  /** The page's HTML; resolves within about `waitMs` whatever the database does. */
  readonly html: () => Promise<string>;
  /** Abandons a running read (shutdown). */
  readonly close: () => void;
}

/** The status page served from a short-lived cache: one database read per period at most. */
export function statusPageSource(
  db: Database,
  config: Pick<Config, "backoffLookback" | "failureHardLimit" | "backoffInterval"> &
    Partial<
      Pick<Config, "maxInflightJobs" | "replaceStopped" | "rolloutMaxWait" | "cancelPending">
    >,
  options: StatusPageSourceOptions,
): StatusPageSource {
  const cache = cachedValue({
    load: (signal) => readStatusPageData(db, config, new Date(), signal),
    ttlMs: options.ttlMs ?? 5000,
    timeoutMs: options.timeoutMs ?? 10_000,
    waitMs: options.waitMs ?? 1000,
  });
  return {
    html: async () =>
      renderStatusPage({
        read: await cache.read(),
        now: new Date(),
        version: options.version,
        refreshSeconds: options.refreshSeconds ?? 10,
      }),
    close: cache.close,
  };
}

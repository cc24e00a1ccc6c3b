// Carries out one preset's planned actions, in order. Every action is isolated: a failure is
// logged (with preset, template and action), reported, and never stops the preset's remaining
// actions. Each write is its own short READ COMMITTED transaction on a pooled connection: the
// preset's write lock, then one statement that re-checks the plan against the world as it is now
// (issue #11), so a stale plan (a lost advisory lock, a claim, a promotion since the snapshot)
// writes less or nothing, never too much. The new jobs go to the notifier after the commit (the
// cycle sends them all at its end: notifier.ts). Stops between actions once `signal` aborts.

import type { Database } from "../db/pool.ts";
import { AbortedError, sqlState, withTransaction } from "../db/transaction.ts";
import type { Logger } from "../observe/logger.ts";
import { withSpan } from "../observe/tracing.ts";
import type { ActionOutcome } from "../plan/action.ts";
import type {
  Action,
  BackoffAction,
  CancelPendingAction,
  CreateAction,
  DeleteAction,
  PlannedPreset,
} from "../plan/index.ts";
import { cancelPendingPrebuilds } from "./cancelPending.ts";
import { createGate } from "./createGate.ts";
import { createPrebuilds } from "./createPrebuilds.ts";
import { deletePrebuilds } from "./deletePrebuilds.ts";
import type { JobNotifier, PostedJob } from "./notifier.ts";
import { type ActionEffects, type ActionEvent, NO_EFFECTS } from "./outcome.ts";
import { markPresetStatus, recoverFromHardLimit } from "./presetStatus.ts";

/** No clock: every timestamp written is the database's now(), and the planned instant is
 *  `PlannedPreset.at` (issue #11, one clock). */
export interface ExecuteOptions {
  readonly cancelPendingEnabled: boolean;
  /** Milliseconds since a provisioner daemon's last_seen_at after which it counts as gone. */
  readonly provisionerStaleAfter: number;
  readonly jobTags: Readonly<Record<string, string>>;
  /** PREBUILDS_MAX_INFLIGHT_JOBS, re-checked by every create at write time (issue #13). */
  readonly maxInflightJobs?: number | null;
  /** Complete never-provisioned orphan deletes at once (issue #13). Default true; false only for
   *  the benchmark's before/after. */
  readonly freeDeletes?: boolean;
}

export interface PresetExecution {
  readonly db: Database;
  readonly planned: PlannedPreset;
  readonly options: ExecuteOptions;
  readonly logger: Logger;
  readonly notifier: JobNotifier;
  readonly onAction: (event: ActionEvent) => void;
  readonly signal: AbortSignal;
}

interface ActionResult {
  readonly outcome: ActionOutcome;
  readonly detail: string;
  readonly effects: ActionEffects;
  readonly error?: unknown;
}

// SQLSTATEs that mean "another session changed this first": a lost race, retried next cycle.
// The preset's deletes are one statement, so a lost race defers all of them to the next cycle.
const LOST_RACE: ReadonlyMap<string, string> = new Map([
  ["23505", "a concurrent build took the next build number (claimed meanwhile)"],
  ["40001", "a concurrent transaction changed the workspace (serialization failure)"],
  ["40P01", "deadlocked with a concurrent claim; PostgreSQL chose this delete to abort"],
]);

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function skipped(detail: string, effects: ActionEffects = NO_EFFECTS): ActionResult {
  return { outcome: "skipped", detail, effects };
}

async function notifyAfterCommit(
  run: PresetExecution,
  log: Logger,
  jobs: readonly PostedJob[],
): Promise<void> {
  if (jobs.length === 0) return;
  try {
    await run.notifier.notifyJobsPosted(jobs);
  } catch (error) {
    // Harmless: provisioners poll the queue too.
    log.warn(
      { err: error, jobs: jobs.length },
      "could not notify provisioners of new jobs; they will find them by polling",
    );
  }
}

async function executeCreate(
  run: PresetExecution,
  log: Logger,
  action: CreateAction,
): Promise<ActionResult> {
  const { preset } = run.planned;
  // The pure pre-write checks (hard limit, validation, clamp to desired): createGate.ts.
  const gate = createGate(run.planned, action, run.planned.at);
  if (gate.kind === "skip") return skipped(gate.reason);
  const { count, desired } = gate;
  if (gate.clampedFrom !== undefined) {
    log.error(
      { planned: gate.clampedFrom, desired },
      "create count above the planner's desired instances; clamping",
    );
  }
  const result = await withTransaction(
    run.db,
    { isolation: "read committed", signal: run.signal },
    (client) =>
      createPrebuilds(client, {
        presetId: preset.presetId,
        count,
        desired,
        jobTags: run.options.jobTags,
        maxInflightJobs: run.options.maxInflightJobs ?? null,
      }),
  );
  switch (result.kind) {
    case "created": {
      await notifyAfterCommit(run, log, result.jobs);
      const created = result.workspaceIds.length;
      const short = result.planned - created;
      if (short > 0 && result.capped !== undefined) {
        // The in-flight cap, counted under its lock, left less room than the plan saw.
        return {
          outcome: "success",
          detail: `created ${created} of ${result.planned}: ${result.capped.inflight} of ${result.capped.cap} prebuild jobs in flight at write time (PREBUILDS_MAX_INFLIGHT_JOBS)`,
          effects: { ...NO_EFFECTS, created, lostRaces: short },
        };
      }
      if (short > 0) {
        // Its own outcome (issue #11): the pool re-counted under the preset lock had grown since
        // the snapshot (another writer, e.g. a replica that lost the advisory lock).
        const detail = `created ${created} of ${result.planned}: ${short} appeared since the snapshot (${result.present} present at write time, desired ${result.desired})`;
        log.warn({ planned: result.planned, created, present: result.present }, detail);
        return {
          outcome: "success",
          detail,
          effects: { ...NO_EFFECTS, created, lostRaces: short },
        };
      }
      return {
        outcome: "success",
        detail: `created ${created} prebuild(s)`,
        effects: { ...NO_EFFECTS, created },
      };
    }
    case "pool_full": {
      const detail = `created 0 of ${count}: ${count} appeared since the snapshot (${result.present} present at write time, desired ${result.desired})`;
      log.warn({ planned: count, present: result.present }, detail);
      return skipped(detail, { ...NO_EFFECTS, lostRaces: count });
    }
    case "preset_gone":
      return skipped("the preset no longer exists");
    case "capped":
      return skipped(
        `created 0 of ${count}: ${result.inflight} of ${result.cap} prebuild jobs in flight at write time (PREBUILDS_MAX_INFLIGHT_JOBS)`,
      );
    case "preset_inactive":
      return skipped(
        `the preset is no longer on its template's active version (now ${result.activeVersionId}) or the template was deleted or deprecated`,
      );
    case "validation_failed":
      if (result.firstDetection) {
        log.warn(
          { missing: result.missing },
          "preset marked validation_failed: its parameters miss required template parameters; fix the preset in a new template version",
        );
      }
      return {
        outcome: "failure",
        detail: `preset misses required parameter(s) ${result.missing.join(", ")}: marked validation_failed, creation stopped`,
        effects: NO_EFFECTS,
        error: new Error(`missing required parameters: ${result.missing.join(", ")}`),
      };
  }
}

const NO_LONGER_BECAUSE: Record<DeleteAction["because"], string> = {
  expired: "no longer expired (TTL or invalidation changed)",
  inactive: "preset active again",
  extraneous: "pool no longer above desired at write time",
  stopped: "no longer stopped (started again, or deleted)",
  superseded:
    "the surge rollout's new preset has fewer eligible prebuilds than planned (one claimed?) and its bound has not passed",
};

async function executeDelete(
  run: PresetExecution,
  log: Logger,
  action: DeleteAction,
): Promise<ActionResult> {
  const planned = action.workspaceIds.length;
  let result: Awaited<ReturnType<typeof deletePrebuilds>>;
  try {
    result = await withTransaction(
      run.db,
      { isolation: "read committed", signal: run.signal },
      (client) =>
        deletePrebuilds(client, {
          presetId: run.planned.preset.presetId,
          workspaceIds: action.workspaceIds,
          because: action.because,
          surge: action.surge,
          desired: run.planned.plan.state.desired,
          jobTags: run.options.jobTags,
        }),
    );
  } catch (error) {
    const race = LOST_RACE.get(sqlState(error) ?? "");
    if (race === undefined || error instanceof AbortedError) throw error;
    log.info({ planned }, `not deleting this cycle: ${race}`);
    return skipped(`deleted 0 of ${planned}: ${race}; retried next cycle`, {
      ...NO_EFFECTS,
      lostRaces: planned,
    });
  }
  if (result.presetGone) return skipped("the preset no longer exists");
  const deleted = result.deleted.length;
  await notifyAfterCommit(
    run,
    log,
    result.deleted.map((d) => d.job),
  );
  const notPrebuilds = planned - result.stillPrebuilds;
  const reasonGone = result.stillPrebuilds - result.reasonHolds;
  const beyondDesired = result.reasonHolds - deleted;
  const notes: string[] = [];
  if (notPrebuilds > 0) {
    notes.push(
      `${notPrebuilds} no longer an unclaimed running prebuild (claimed, changed or gone)`,
    );
  }
  if (reasonGone > 0) notes.push(`${reasonGone} kept: ${NO_LONGER_BECAUSE[action.because]}`);
  if (beyondDesired > 0) notes.push(`${beyondDesired} kept: ${NO_LONGER_BECAUSE.extraneous}`);
  const lostRaces = planned - deleted;
  const detail = `deleted ${deleted} of ${planned} prebuild(s)${notes.length > 0 ? `: ${notes.join("; ")}` : ""}`;
  if (lostRaces > 0) log.info({ planned, deleted }, detail);
  return {
    outcome: deleted > 0 || lostRaces === 0 ? "success" : "skipped",
    detail,
    effects: { ...NO_EFFECTS, deleted, lostRaces },
  };
}

async function executeCancelPending(
  run: PresetExecution,
  log: Logger,
  action: CancelPendingAction,
): Promise<ActionResult> {
  if (!run.options.cancelPendingEnabled) {
    return skipped(
      `CancelPending is disabled by configuration: leaving ${action.pendingCount} pending job(s) queued`,
    );
  }
  const result = await cancelPendingPrebuilds(run.db, {
    presetId: action.presetId,
    policy: action.policy,
    orphans: action.orphanCount > 0,
    provisionerStaleAfter: run.options.provisionerStaleAfter,
    jobTags: run.options.jobTags,
    signal: run.signal,
    freeDeletes: run.options.freeDeletes ?? true,
  });
  const canceled = result.canceledJobIds.length;
  const requested = result.cancelRequestedJobIds.length;
  if (canceled + requested + result.orphanDeleted.length > 0) {
    log.info(
      {
        policy: action.policy,
        canceled,
        cancelRequested: requested,
        orphanDeleted: result.orphanDeleted.length,
        deletedAtOnce: result.deletedAtOnce.length,
        neverProvisioned: result.neverProvisioned.length,
      },
      "canceled stale prebuild jobs of an inactive preset and orphan-deleted their workspaces",
    );
  }
  // One wake-up per queued delete job (all share organization and tags).
  await notifyAfterCommit(run, log, result.queuedJobs);
  const done: string[] = [];
  if (canceled > 0) done.push(`canceled ${canceled} pending job(s)`);
  if (requested > 0) done.push(`asked ${requested} running job(s) to cancel`);
  if (result.orphanDeleted.length > 0) {
    done.push(
      describeOrphanDeletes(
        result.orphanDeleted.length,
        result.deletedAtOnce.length,
        result.neverProvisioned.length,
      ),
    );
  }
  return {
    outcome: done.length > 0 ? "success" : "skipped",
    detail:
      done.length > 0
        ? `${done.join(", ")} (cancel policy "${action.policy}")`
        : `nothing matched any more (acquired, finished or policy changed since the snapshot; cancel policy "${action.policy}")`,
    effects: {
      ...NO_EFFECTS,
      canceledJobs: canceled + requested,
      orphanDeleted: result.orphanDeleted.length,
    },
  };
}

/**
 * How the orphans of cancelled jobs were deleted: at once because nothing was ever provisioned
 * (free deletes, issue #13), at once because no provisioner had been seen lately (issue #14: "0 at
 * once: no live provisioner" read as if no provisioner were alive), or queued as delete builds.
 */
export function describeOrphanDeletes(total: number, atOnce: number, free = 0): string {
  const queued = total - atOnce;
  const noProvisioner = atOnce - free;
  if (total === 0) return "no workspace to orphan-delete";
  if (free > 0) {
    const parts = [`${free} at once (never provisioned: no queue slot, no provisioner)`];
    if (noProvisioner > 0) {
      parts.push(`${noProvisioner} at once (no provisioner seen recently to run delete builds)`);
    }
    if (queued > 0) parts.push(`${queued} as delete builds queued for the provisioners`);
    return `orphan-deleted ${total} workspace(s): ${parts.join(", ")}`;
  }
  if (atOnce === 0)
    return `orphan-deleted ${total} workspace(s) (delete builds queued for the provisioners)`;
  if (queued === 0) {
    return `orphan-deleted ${total} workspace(s) at once (no provisioner seen recently to run delete builds)`;
  }
  return `orphan-deleted ${total} workspace(s): ${queued} as delete builds queued for the provisioners, ${atOnce} at once (no provisioner seen recently to run them)`;
}

function executeBackoff(log: Logger, action: BackoffAction, now: Date): ActionResult {
  const seconds = Math.max(0, Math.round((action.until.getTime() - now.getTime()) / 1000));
  log.warn(
    { backoffUntil: action.until.toISOString(), backoffSecs: seconds },
    `backing off after failed builds; creation resumes at ${action.until.toISOString()}`,
  );
  return {
    outcome: "success",
    detail: `backing off until ${action.until.toISOString()}`,
    effects: NO_EFFECTS,
  };
}

async function executeAction(
  run: PresetExecution,
  log: Logger,
  action: Action,
): Promise<ActionResult> {
  switch (action._tag) {
    case "Create":
      return executeCreate(run, log, action);
    case "Delete":
      return executeDelete(run, log, action);
    case "CancelPending":
      return executeCancelPending(run, log, action);
    case "Backoff":
      return executeBackoff(log, action, run.planned.at);
  }
}

function actionAttributes(action: Action): Record<string, string | number> {
  switch (action._tag) {
    case "Create":
      return { "prebuilds.action.count": action.count };
    case "Delete":
      return { "prebuilds.action.count": action.workspaceIds.length };
    case "CancelPending":
      return { "prebuilds.action.pending_count": action.pendingCount };
    case "Backoff":
      return { "prebuilds.action.backoff_until": action.until.toISOString() };
  }
}

/**
 * The stored status follows the hard limit (reference §4.5; recovery is issue #15): marked
 * hard_limited on first detection, and back to healthy once the limit no longer holds (its failed
 * prebuilds were deleted, a later build succeeded, or `prebuildsd reset`).
 * Creation is gated on the live snapshot either way. (A paused preset never gets here:
 * src/reconciler/executePlan.ts leaves it out.)
 */
async function syncHardLimitStatus(run: PresetExecution, log: Logger): Promise<void> {
  const { snapshot, preset } = run.planned;
  const limited = snapshot.isHardLimited;
  const stored = preset.prebuildStatus === "hard_limited";
  if (limited === stored) return;
  try {
    const changed = await withTransaction(
      run.db,
      { isolation: "read committed", signal: run.signal },
      (client) =>
        limited
          ? markPresetStatus(client, preset.presetId, "hard_limited")
          : recoverFromHardLimit(client, preset.presetId),
    );
    if (changed && limited) {
      log.warn(
        "preset hit the failure hard limit: its most recent builds all failed; creation stops until they are deleted, a new version is promoted, or `prebuildsd reset`",
      );
    } else if (changed) {
      log.info(
        "preset recovered from the failure hard limit (its most recent builds no longer all failed): marked healthy",
      );
    }
  } catch (error) {
    if (error instanceof AbortedError) throw error;
    log.error({ err: error }, `could not mark preset ${limited ? "hard_limited" : "healthy"}`);
  }
}

/** Runs the preset's actions in order; resolves with one event per action attempted. */
export async function executePreset(run: PresetExecution): Promise<readonly ActionEvent[]> {
  const { preset, plan } = run.planned;
  const presetLog = run.logger.child({
    preset: preset.presetName,
    presetId: preset.presetId,
    template: preset.templateName,
    templateId: preset.templateId,
    templateVersion: preset.templateVersionName,
  });
  return withSpan(
    "prebuilds.reconcile_preset",
    {
      "prebuilds.preset_id": preset.presetId,
      "prebuilds.preset": preset.presetName,
      "prebuilds.template": preset.templateName,
      "prebuilds.template_version": preset.templateVersionName,
      "prebuilds.actions": plan.actions.length,
      "prebuilds.desired": plan.state.desired,
      "prebuilds.actual": plan.state.actual,
    },
    async (setPresetAttributes) => {
      await syncHardLimitStatus(run, presetLog);
      const events: ActionEvent[] = [];
      for (const action of plan.actions) {
        if (run.signal.aborted) break;
        const log = presetLog.child({ action: action._tag });
        const started = performance.now();
        const result = await withSpan(
          `prebuilds.action.${action._tag}`,
          actionAttributes(action),
          async (setAttributes): Promise<ActionResult> => {
            let r: ActionResult;
            try {
              r = await executeAction(run, log, action);
            } catch (error) {
              if (error instanceof AbortedError || run.signal.aborted) throw error;
              r = { outcome: "failure", detail: errorText(error), effects: NO_EFFECTS, error };
            }
            setAttributes({
              "prebuilds.outcome": r.outcome,
              "prebuilds.created": r.effects.created,
              "prebuilds.deleted": r.effects.deleted,
              "prebuilds.canceled_jobs": r.effects.canceledJobs,
            });
            return r;
          },
        );
        const event: ActionEvent = {
          preset,
          action,
          outcome: result.outcome,
          detail: result.detail,
          effects: result.effects,
          durationMs: performance.now() - started,
          ...(result.error !== undefined && { error: result.error }),
        };
        if (result.outcome === "failure") {
          log.error(
            { err: result.error, reason: action.reason },
            `action failed: ${result.detail}`,
          );
        } else if (action._tag !== "Backoff") {
          log.info({ outcome: result.outcome, reason: action.reason }, result.detail);
        }
        events.push(event);
        try {
          run.onAction(event);
        } catch (error) {
          log.error({ err: error }, "the action observer threw; ignoring it");
        }
      }
      setPresetAttributes({ "prebuilds.actions_executed": events.length });
      return events;
    },
  );
}

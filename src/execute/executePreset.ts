// Carries out one preset's planned actions, in order. Every action is isolated: a failure is
// logged (with preset, template and action), reported, and never stops the preset's remaining
// actions. Each write is its own short transaction on a pooled connection (a create is a single
// statement); the new jobs go to the notifier after the commit (the cycle sends them all at its
// end: notifier.ts). Stops between actions once `signal` aborts (shutdown).

import type { Database } from "../db/pool.ts";
import { AbortedError, sqlState, withSingleStatement, withTransaction } from "../db/transaction.ts";
import type { Logger } from "../observe/logger.ts";
import { withSpan } from "../observe/tracing.ts";
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
import { deletePrebuild } from "./deletePrebuild.ts";
import type { JobNotifier, PostedJob } from "./notifier.ts";
import { type ActionEffects, type ActionEvent, type ActionOutcome, NO_EFFECTS } from "./outcome.ts";
import { markPresetStatus } from "./presetStatus.ts";

export interface ExecuteOptions {
  /** The clock; read when each action starts, and used for every timestamp it writes. */
  readonly now: () => Date;
  readonly cancelPendingEnabled: boolean;
  /** Milliseconds since a provisioner daemon's last_seen_at after which it counts as gone. */
  readonly provisionerStaleAfter: number;
  readonly jobTags: Readonly<Record<string, string>>;
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
const LOST_RACE = new Map([
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
  const now = run.options.now();
  // The pure pre-write checks (hard limit, validation, clamp to desired now): createGate.ts.
  const gate = createGate(run.planned, action, now);
  if (gate.kind === "skip") return skipped(gate.reason);
  const { count } = gate;
  if (gate.clampedFrom !== undefined) {
    log.error(
      { planned: gate.clampedFrom, desired: gate.desired },
      "create count above the desired instances recomputed now; clamping",
    );
  }
  // One statement, its own transaction (no BEGIN/COMMIT): see createPrebuilds.ts.
  const result = await withSingleStatement(run.db, { signal: run.signal }, (client) =>
    createPrebuilds(client, {
      presetId: preset.presetId,
      count,
      now,
      jobTags: run.options.jobTags,
    }),
  );
  switch (result.kind) {
    case "created":
      await notifyAfterCommit(run, log, result.jobs);
      return {
        outcome: "success",
        detail: `created ${result.workspaceIds.length} prebuild(s)`,
        effects: { ...NO_EFFECTS, created: result.workspaceIds.length },
      };
    case "preset_gone":
      return skipped("the preset no longer exists");
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

async function executeDelete(
  run: PresetExecution,
  log: Logger,
  action: DeleteAction,
): Promise<ActionResult> {
  let deleted = 0;
  let lostRaces = 0;
  const errors: unknown[] = [];
  for (const workspaceId of action.workspaceIds) {
    if (run.signal.aborted) throw new AbortedError(run.signal.reason);
    const now = run.options.now();
    try {
      // One statement: its own transaction.
      const result = await withTransaction(
        run.db,
        { isolation: "read committed", signal: run.signal },
        (client) => deletePrebuild(client, { workspaceId, now, jobTags: run.options.jobTags }),
      );
      if (result.kind === "deleted") {
        deleted++;
        await notifyAfterCommit(run, log, [result.job]);
      } else {
        lostRaces++;
        log.info(
          { workspaceId },
          "not deleting: no longer an unclaimed running prebuild (claimed, changed or gone since the snapshot)",
        );
      }
    } catch (error) {
      const race = LOST_RACE.get(sqlState(error) ?? "");
      if (race !== undefined && !(error instanceof AbortedError)) {
        lostRaces++;
        log.info({ workspaceId }, `not deleting: ${race}`);
        continue;
      }
      if (error instanceof AbortedError) throw error;
      errors.push(error);
      log.error({ err: error, workspaceId }, "could not delete prebuild");
    }
  }
  const effects = { ...NO_EFFECTS, deleted, lostRaces };
  const detail = `deleted ${deleted} of ${action.workspaceIds.length} prebuild(s)${lostRaces > 0 ? `, ${lostRaces} no longer deletable (claimed or changed)` : ""}${errors.length > 0 ? `, ${errors.length} failed` : ""}`;
  if (errors.length > 0) return { outcome: "failure", detail, effects, error: errors[0] };
  return { outcome: deleted > 0 || lostRaces === 0 ? "success" : "skipped", detail, effects };
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
  const now = run.options.now();
  const liveSince = new Date(now.getTime() - run.options.provisionerStaleAfter);
  const result = await withTransaction(
    run.db,
    { isolation: "read committed", signal: run.signal },
    (client) =>
      cancelPendingPrebuilds(client, {
        presetId: action.presetId,
        now,
        liveSince,
        jobTags: run.options.jobTags,
      }),
  );
  if (result.canceledJobIds.length > 0) {
    log.info(
      {
        canceled: result.canceledJobIds.length,
        orphanDeleted: result.orphanDeleted.length,
        deletedAtOnce: result.deletedAtOnce.length,
      },
      "canceled pending prebuild jobs of an inactive preset and orphan-deleted their workspaces",
    );
  }
  // One wake-up per queued delete job (all share organization and tags).
  await notifyAfterCommit(run, log, result.queuedJobs);
  return {
    outcome: result.canceledJobIds.length > 0 ? "success" : "skipped",
    detail:
      result.canceledJobIds.length > 0
        ? `canceled ${result.canceledJobIds.length} pending job(s), ${describeOrphanDeletes(result.orphanDeleted.length, result.deletedAtOnce.length)}`
        : `no pending job matched any more (acquired or finished since the snapshot)`,
    effects: {
      ...NO_EFFECTS,
      canceledJobs: result.canceledJobIds.length,
      orphanDeleted: result.orphanDeleted.length,
    },
  };
}

/**
 * How the orphans of cancelled jobs were deleted: queued as delete builds for the provisioners, or
 * at once because no provisioner had been seen lately (issue #14: "0 at once: no live provisioner"
 * read as if no provisioner were alive).
 */
export function describeOrphanDeletes(total: number, atOnce: number): string {
  const queued = total - atOnce;
  if (total === 0) return "no workspace to orphan-delete";
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
      return executeBackoff(log, action, run.options.now());
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

/** Hard limit, first detection only: persist the status; creation is gated on the live snapshot. */
async function recordHardLimit(run: PresetExecution, log: Logger): Promise<void> {
  const { snapshot, preset } = run.planned;
  if (!snapshot.isHardLimited || preset.prebuildStatus === "hard_limited") return;
  try {
    const first = await withTransaction(
      run.db,
      { isolation: "read committed", signal: run.signal },
      (client) => markPresetStatus(client, preset.presetId, "hard_limited"),
    );
    if (first) {
      log.warn(
        "preset hit the failure hard limit: its most recent builds all failed; creation stops until they are deleted or a new version is promoted",
      );
    }
  } catch (error) {
    if (error instanceof AbortedError) throw error;
    log.error({ err: error }, "could not mark preset hard_limited");
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
      await recordHardLimit(run, presetLog);
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

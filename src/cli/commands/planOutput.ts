// How `plan` shows a planned cycle: a table for people, and the JSON shape scripts rely on
// (issue #6; field names and action types are a contract).
import { alignColumns } from "../../observe/columns.ts";
import { ACTION_NAMES } from "../../plan/action.ts";
import {
  type Action,
  type CancelPolicy,
  type CreateCap,
  DEFAULT_CANCEL_POLICY,
  describeCap,
  type PlannedPreset,
  type RolloutProgress,
  rolloutProgress,
  staleFirstBuilds,
  startingShown,
} from "../../plan/index.ts";
import type { PlanPreview } from "../../reconciler/index.ts";
import { describeFailingCreate, type MissingParameters } from "../../snapshot/missingParameters.ts";

type Named<Tag extends keyof typeof ACTION_NAMES> = { readonly type: (typeof ACTION_NAMES)[Tag] };

type JsonAction =
  | (Named<"Create"> & { readonly count: number; readonly reason: string })
  | (Named<"Delete"> & { readonly workspaceIds: readonly string[]; readonly reason: string })
  | (Named<"Backoff"> & { readonly until: string; readonly reason: string })
  | (Named<"CancelPending"> & {
      /** The template's cancel policy the action follows (issue #13). */
      readonly policy: CancelPolicy;
      readonly pendingCount: number;
      /** Running jobs asked to cancel (policy "running"). */
      readonly runningCount: number;
      /** Workspaces of first builds canceled while running, deleted through a provisioner. */
      readonly orphanCount: number;
      readonly reason: string;
    });

interface JsonPlannedPreset {
  readonly presetId: string;
  readonly presetName: string;
  readonly templateId: string;
  readonly templateName: string;
  readonly templateVersionId: string;
  readonly templateVersionName: string;
  readonly organizationId: string;
  readonly organizationName: string;
  readonly active: boolean;
  /** The template's cancel policy (issue #13): pending, retain or running. */
  readonly cancelPolicy: CancelPolicy;
  /** An operator paused the preset or its template (`pause --template/--preset`, issue #15):
   *  `actions` is empty and `pauseReason` says which pause. */
  readonly paused: boolean;
  readonly pauseReason: string | null;
  /** `prebuildsd scale`'s count for the preset, null when none; `state.desired` follows it
   *  unless a schedule covers the instant. */
  readonly desiredOverride: number | null;
  readonly state: {
    readonly desired: number;
    readonly actual: number;
    readonly eligible: number;
    readonly expired: number;
    readonly extraneous: number;
    readonly starting: number;
    readonly stopping: number;
    readonly deleting: number;
  };
  readonly actions: readonly JsonAction[];
  /** Set when PREBUILDS_MAX_INFLIGHT_JOBS held creates back (issue #13): the create action's count
   *  is `granted` (no create action when 0) of `wanted`; else null. */
  readonly capped: CreateCap | null;
  /** The same sentences the table shows after "!": bad data, and creates validation will refuse. */
  readonly warnings: readonly string[];
  /** Required parameters the preset leaves unset, when the plan creates (its creates will fail). */
  readonly missingParameters: readonly string[];
}

/** A surge rollout's progress (issue #15), per template. */
export interface JsonRollout {
  readonly templateId: string;
  readonly templateName: string;
  readonly startedAt: string;
  readonly deadline: string;
  readonly oldEligible: number;
  readonly oldKept: number;
  readonly newEligible: number;
  readonly newDesired: number;
}

export interface JsonPlan {
  /** ISO time the plan was made for. */
  readonly at: string;
  /** When true the next cycle does nothing; `presets` is what it would do once resumed. */
  readonly paused: boolean;
  readonly presets: readonly JsonPlannedPreset[];
  /** Surge rollouts in progress, by template name. */
  readonly rollouts: readonly JsonRollout[];
}

/** A preset's warnings: the planner's, then a create that validation will refuse. */
function presetWarnings(p: PlannedPreset, missing: MissingParameters): string[] {
  const names = missing.get(p.preset.presetId);
  return [...p.plan.warnings, ...(names ? [describeFailingCreate(names)] : [])];
}

function jsonAction(action: Action): JsonAction {
  switch (action._tag) {
    case "Create":
      return { type: ACTION_NAMES.Create, count: action.count, reason: action.reason };
    case "Delete":
      return {
        type: ACTION_NAMES.Delete,
        workspaceIds: [...action.workspaceIds],
        reason: action.reason,
      };
    case "Backoff":
      return {
        type: ACTION_NAMES.Backoff,
        until: action.until.toISOString(),
        reason: action.reason,
      };
    case "CancelPending":
      return {
        type: ACTION_NAMES.CancelPending,
        policy: action.policy,
        pendingCount: action.pendingCount,
        runningCount: action.runningCount,
        orphanCount: action.orphanCount,
        reason: action.reason,
      };
  }
}

/** Active presets first, then by template, version and preset name: stable for diffs. */
function sortPlanned(planned: readonly PlannedPreset[]): PlannedPreset[] {
  const key = (p: PlannedPreset) =>
    [
      p.preset.templateName,
      p.plan.active ? "0" : "1",
      p.preset.templateVersionName,
      p.preset.presetName,
      p.preset.presetId,
    ].join("\u0000");
  return [...planned].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

export function planJson(preview: Omit<PlanPreview, "settingsProblem">): JsonPlan {
  return {
    rollouts: rolloutProgress(preview.presets).map((r) => ({
      ...r,
      startedAt: r.startedAt.toISOString(),
      deadline: r.deadline.toISOString(),
    })),
    at: preview.at.toISOString(),
    paused: preview.paused,
    presets: sortPlanned(preview.presets).map((p) => ({
      presetId: p.preset.presetId,
      presetName: p.preset.presetName,
      templateId: p.preset.templateId,
      templateName: p.preset.templateName,
      templateVersionId: p.preset.templateVersionId,
      templateVersionName: p.preset.templateVersionName,
      organizationId: p.preset.organizationId,
      organizationName: p.preset.organizationName,
      active: p.plan.active,
      cancelPolicy: cancelPolicyOf(p),
      paused: p.plan.paused !== null,
      pauseReason: p.plan.paused,
      desiredOverride: p.plan.desiredOverride,
      state: {
        desired: p.plan.state.desired,
        actual: p.plan.state.actual,
        eligible: p.plan.state.eligible,
        expired: p.plan.state.expired,
        extraneous: p.plan.state.extraneous,
        starting: p.plan.state.starting,
        stopping: p.plan.state.stopping,
        deleting: p.plan.state.deleting,
      },
      staleFirstBuilds: staleFirstBuilds(p),
      actions: p.plan.actions.map(jsonAction),
      capped: p.plan.capped ?? null,
      warnings: presetWarnings(p, preview.missingParameters),
      missingParameters: preview.missingParameters.get(p.preset.presetId) ?? [],
    })),
  };
}

function cancelPolicyOf(p: PlannedPreset): CancelPolicy {
  return p.preset.cancelPolicy ?? DEFAULT_CANCEL_POLICY;
}

/**
 * `2 pending first builds left to finish (cancel policy "retain")`: an inactive preset's first
 * builds in flight that no CancelPending of this cycle touches; null when there are none, or
 * when a CancelPending line already names them.
 */
function describeLeftToFinish(p: PlannedPreset): string | null {
  if (p.plan.actions.some((a) => a._tag === "CancelPending")) return null;
  const { pending, running } = staleFirstBuilds(p);
  if (pending + running === 0) return null;
  const kinds = [pending > 0 ? `${pending} pending` : "", running > 0 ? `${running} running` : ""];
  const builds = pending + running === 1 ? "first build" : "first builds";
  return `${kinds.filter((k) => k !== "").join(" and ")} ${builds} left to finish (cancel policy "${cancelPolicyOf(p)}")`;
}

/** `rollout alpha (surge, started …, bound …): old version 3 eligible (keeping 2), new 1 of 3`. */
function describeRollout(r: RolloutProgress): string {
  return `rollout ${r.templateName} (surge, started ${r.startedAt.toISOString()}, bound ${r.deadline.toISOString()}): previous version ${r.oldEligible} eligible (keeping ${r.oldKept}), new version ${r.newEligible} eligible of ${r.newDesired} desired`;
}

/** "create 3 of 10 (capped: 97 of 100 jobs in flight)": a Create the in-flight cap held back. */
function describeCappedCreate(cap: CreateCap): string {
  return `create ${cap.granted} of ${cap.wanted} (${describeCap(cap)})`;
}

/** One line per action: what it does, then why (with the cap, when it held the Create back). */
function describeAction(action: Action, cap?: CreateCap): string {
  switch (action._tag) {
    case "Create":
      if (cap !== undefined) return `${describeCappedCreate(cap)}: ${action.reason}`;
      return `create ${action.count}: ${action.reason}`;
    case "Delete":
      return `delete ${action.workspaceIds.length} (${action.workspaceIds.join(", ")}): ${action.reason}`;
    case "Backoff":
      return `backoff until ${action.until.toISOString()}: ${action.reason}`;
    case "CancelPending": {
      const what = [`cancel ${action.pendingCount} pending`];
      if (action.runningCount > 0) what.push(`ask ${action.runningCount} running to cancel`);
      if (action.orphanCount > 0) what.push(`delete ${action.orphanCount} canceled`);
      return `${what.join(", ")}: ${action.reason}`;
    }
  }
}

const COLUMNS = [
  "TEMPLATE",
  "VERSION",
  "PRESET",
  "ACTIVE",
  "DESIRED",
  "RUNNING",
  "ELIGIBLE",
  "EXPIRED",
  "STARTING",
  "DELETING",
  "CANCEL POLICY",
  "CONTROLS",
] as const;

/** The operator controls on a preset, for the table: "paused", "scale 2". */
function controlsCell(p: PlannedPreset): string {
  const cells: string[] = [];
  if (p.plan.paused !== null) cells.push("paused");
  if (p.plan.desiredOverride !== null) cells.push(`scale ${p.plan.desiredOverride}`);
  return cells.join(", ");
}

export function planTable(
  preview: Pick<PlanPreview, "presets" | "at" | "missingParameters">,
): string {
  const { at } = preview;
  const sorted = sortPlanned(preview.presets);
  const rows = sorted.map((p) => [
    ...stateCells(p),
    p.preset.cancelPolicy ?? DEFAULT_CANCEL_POLICY,
    controlsCell(p),
  ]);
  const [header = "", ...lines] = alignColumns([COLUMNS, ...rows]);
  const out = [header];
  let actionCount = 0;
  sorted.forEach((p, i) => {
    out.push(lines[i] ?? "");
    if (p.plan.paused !== null) out.push(`    ‖ ${p.plan.paused}`);
    for (const action of p.plan.actions) {
      actionCount++;
      out.push(`    → ${describeAction(action, p.plan.capped)}`);
    }
    if (p.plan.capped !== undefined && p.plan.capped.granted === 0) {
      out.push(`    → ${describeCappedCreate(p.plan.capped)}`);
    }
    const leftToFinish = describeLeftToFinish(p);
    if (leftToFinish !== null) out.push(`    · ${leftToFinish}`);
    for (const warning of presetWarnings(p, preview.missingParameters))
      out.push(`    ! ${warning}`);
  });
  if (sorted.length === 0) out.push("(no preset has prebuilds to manage)");
  for (const r of rolloutProgress(preview.presets)) out.push(describeRollout(r));
  out.push(
    "",
    `${sorted.length} preset(s), ${actionCount} action(s) planned as of ${at.toISOString()}; nothing was written.`,
  );
  return out.join("\n");
}

/** The identity and count cells of a preset's row. */
function stateCells(p: PlannedPreset): string[] {
  const { preset, plan } = p;
  return [
    preset.templateName,
    preset.templateVersionName,
    preset.presetName,
    plan.active ? "yes" : "no",
    String(plan.state.desired),
    String(plan.state.actual),
    String(plan.state.eligible),
    String(plan.state.expired),
    String(startingShown(p)),
    String(plan.state.deleting),
  ];
}

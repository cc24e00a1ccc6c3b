// The demo's terminal view: per preset, what it wants and has and how deep its queue is, then the
// last actions with their reasons and the demo's milestones. Pure: data in, text out.
import { alignColumns } from "../observe/columns.ts";
import type { PlannedPreset } from "../plan/index.ts";

export interface PresetJobs {
  readonly queued: number;
  readonly building: number;
  readonly canceled: number;
  readonly failed: number;
}

export interface ViewAction {
  readonly at: Date;
  readonly where: string;
  readonly type: string;
  readonly outcome: string;
  readonly text: string;
}

export interface ViewModel {
  readonly now: Date;
  readonly elapsedMs: number;
  readonly durationMs: number;
  readonly title: string;
  readonly subtitle: string;
  readonly planned: readonly PlannedPreset[];
  readonly jobsByPreset: ReadonlyMap<string, PresetJobs>;
  readonly actions: readonly ViewAction[];
  readonly milestones: readonly { readonly at: Date; readonly text: string }[];
}

const NO_JOBS: PresetJobs = { queued: 0, building: 0, canceled: 0, failed: 0 };

function clock(d: Date): string {
  return d.toISOString().slice(11, 19);
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  return alignColumns([header, ...rows]);
}

export function renderView(model: ViewModel, width = 120): string {
  const sorted = [...model.planned].sort((a, b) =>
    `${a.preset.templateVersionName}/${a.preset.presetName}`.localeCompare(
      `${b.preset.templateVersionName}/${b.preset.presetName}`,
    ),
  );
  const rows = sorted.map((p) => {
    const jobs = model.jobsByPreset.get(p.preset.presetId) ?? NO_JOBS;
    return [
      p.preset.templateVersionName,
      p.preset.presetName,
      p.plan.active ? "active" : "inactive",
      String(p.plan.state.desired),
      String(p.plan.state.actual),
      String(p.plan.state.eligible),
      String(p.plan.state.starting),
      String(jobs.queued),
      String(jobs.building),
      String(jobs.canceled),
      String(jobs.failed),
    ];
  });
  const seconds = (ms: number) => `${Math.floor(ms / 1000)}s`;
  const cut = (text: string) => (text.length > width ? `${text.slice(0, width - 1)}…` : text);
  return [
    cut(
      `${model.title} — ${seconds(model.elapsedMs)} of ${seconds(model.durationMs)} (Ctrl-C stops)`,
    ),
    cut(model.subtitle),
    "",
    ...table(
      [
        "VERSION",
        "PRESET",
        "STATE",
        "DESIRED",
        "RUNNING",
        "READY",
        "STARTING",
        "QUEUED",
        "BUILDING",
        "CANCELLED",
        "FAILED",
      ],
      rows,
    ),
    "",
    "Last actions (newest first)",
    ...(model.actions.length === 0
      ? ["  (none yet)"]
      : model.actions.map((a) =>
          cut(
            `  ${clock(a.at)}  ${a.where.padEnd(9)} ${a.type.padEnd(14)} ${a.outcome.padEnd(8)} ${a.text}`,
          ),
        )),
    "",
    "Milestones",
    ...model.milestones.map((m) => cut(`  ${clock(m.at)}  ${m.text}`)),
  ].join("\n");
}

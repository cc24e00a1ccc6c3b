// The daemon's status page (`GET /`, issue #14): pools per preset, what needs an operator and the
// command that fixes it, what the next cycle would do and why, the provisioner queue and the last
// cycles. Server-rendered HTML with a meta refresh: no script, no front-end build. Pure: data in,
// HTML out. Every value from the database goes through `escapeHtml`, and the page is served with a
// CSP that forbids scripts, so a hostile template or preset name stays text.
import { describeHeldBack, type HeldBack } from "../plan/index.ts";
import type { RunCounts } from "../reconciler/report.ts";
import type { CachedRead } from "./cachedValue.ts";

type PresetHealth = "healthy" | "hard_limited" | "validation_failed";

export interface StatusPageAction {
  /** create, delete, backoff or cancel_pending (the metric and `plan --json` vocabulary). */
  readonly type: string;
  /** What it does, e.g. "create 2", "delete 1", "backoff until 2026-…Z", "cancel 3 pending". */
  readonly summary: string;
  readonly reason: string;
}

export interface StatusPagePreset {
  readonly organizationName: string;
  readonly templateName: string;
  readonly versionName: string;
  readonly presetName: string;
  /** Active version of a live template (inactive presets appear only while they have work). */
  readonly active: boolean;
  /** The stored status, or hard_limited when the failure history says so already. */
  readonly health: PresetHealth;
  /** The template's cancel policy (pending, retain or running), as `plan` and `status` show it. */
  readonly cancelPolicy: string;
  readonly desired: number;
  readonly running: number;
  readonly eligible: number;
  readonly starting: number;
  readonly deleting: number;
  readonly actions: readonly StatusPageAction[];
  readonly warnings: readonly string[];
}

/** A recorded cycle as the page shows it (prebuild_reconciliation_runs' counts). */
interface StatusPageCycle extends Omit<RunCounts, "statements"> {
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly outcome: string;
  /** "full" or "incremental"; null when the cycle read nothing (paused, failed). */
  readonly kind: string | null;
  readonly replica: string;
  readonly error: string | null;
}

interface StatusPageQueue {
  readonly pending: number;
  readonly pendingPrebuilds: number;
  readonly running: number;
  readonly runningPrebuilds: number;
}

/** One consistent read of the database (src/daemon/statusPageState.ts). */
export interface StatusPageData {
  /** The time the plan was made for (the snapshot's "now"). */
  readonly plannedAt: Date;
  readonly paused: boolean;
  readonly presets: readonly StatusPagePreset[];
  /** Presets left out of `presets` to keep the page small (they are in `prebuildsd plan`). */
  readonly presetsOmitted: number;
  /** Presets with prebuilds configured, in every version (what `plan` lists): "the fleet". */
  readonly presetsInFleet: number;
  /** What PREBUILDS_MAX_INFLIGHT_JOBS holds back in the next cycle's plan; null when nothing. */
  readonly heldBack: HeldBack | null;
  readonly queue: StatusPageQueue;
  /** Newest first. */
  readonly cycles: readonly StatusPageCycle[];
}

export interface StatusPageView {
  readonly read: CachedRead<StatusPageData>;
  readonly now: Date;
  readonly version: string;
  /** Seconds between the page's own reloads (meta refresh). */
  readonly refreshSeconds: number;
}

/** Text made safe for HTML element content and quoted attribute values. */
function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A word the shell passes through unchanged: single-quoted unless it is plainly safe. */
function shellQuote(word: string): string {
  return /^[A-Za-z0-9_.:/@%+=-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** The Content-Security-Policy the page is served with: inline styles only, nothing else. */
export const STATUS_PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'";

const e = escapeHtml;

function ago(now: Date, then: Date): string {
  const seconds = Math.max(0, Math.round((now.getTime() - then.getTime()) / 1000));
  if (seconds < 120) return `${seconds}s ago`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m ago`;
  return `${Math.round(seconds / 3600)}h ago`;
}

function time(now: Date, at: Date): string {
  return `<time datetime="${e(at.toISOString())}">${e(at.toISOString().replace("T", " ").slice(0, 19))}Z</time> <span class="dim">(${e(ago(now, at))})</span>`;
}

interface HealthItem {
  readonly level: "bad" | "warn";
  readonly html: string;
}

function presetTitle(p: StatusPagePreset): string {
  return `<b>${e(p.templateName)}</b> / ${e(p.versionName)} / <b>${e(p.presetName)}</b>`;
}

/** What needs an operator, each with the command or change that fixes it. */
function healthItems(data: StatusPageData): HealthItem[] {
  const items: HealthItem[] = [];
  if (data.paused) {
    items.push({
      level: "warn",
      html: `Reconciliation is <b>paused</b>: no prebuild is created, deleted or cancelled. Resume with <code>prebuildsd resume</code>.`,
    });
  }
  for (const p of data.presets) {
    if (p.health === "hard_limited") {
      items.push({
        level: "bad",
        html: `${presetTitle(p)} is <b>hard-limited</b>: its last builds all failed, so it creates no more prebuilds. Fix the template (see the failed builds' logs) and promote the fixed version with <code>prebuildsd promote ${e(shellQuote(p.templateName))} &lt;version&gt;</code>, or retry with <code>prebuildsd invalidate ${e(shellQuote(p.templateName))}</code>.`,
      });
    } else if (p.health === "validation_failed") {
      items.push({
        level: "bad",
        html: `${presetTitle(p)} <b>failed validation</b>: a required parameter has no value in the preset, so no prebuild can be created. Give the preset every required parameter in a new template version and promote it with <code>prebuildsd promote ${e(shellQuote(p.templateName))} &lt;version&gt;</code>.`,
      });
    }
  }
  if (data.heldBack !== null) {
    items.push({
      level: "warn",
      html: `<span id="held-back"><b>${e(describeHeldBack(data.heldBack))}</b></span>, over ${data.heldBack.presets} preset(s): they are created as prebuild jobs in flight finish. To admit more at once, raise <code>PREBUILDS_MAX_INFLIGHT_JOBS</code> (<code>0</code> or unset: no cap).`,
    });
  }
  const last = data.cycles[0];
  if (last?.outcome === "failed") {
    items.push({
      level: "bad",
      html: `The last cycle <b>failed</b>: ${e(last.error ?? "no error recorded")}`,
    });
  }
  return items;
}

function number(n: number): string {
  return `<td class="n">${n}</td>`;
}

function presetRows(data: StatusPageData): string {
  if (data.presets.length === 0) {
    return `<tr><td colspan="11" class="dim">No preset wants prebuilds.</td></tr>`;
  }
  return data.presets
    .map((p) => {
      const actions =
        p.actions.length === 0
          ? `<span class="dim">nothing to do</span>`
          : `<ul>${p.actions
              .map(
                (a) =>
                  `<li class="action" data-type="${e(a.type)}"><b>${e(a.summary)}</b> <span class="why">— ${e(a.reason)}</span></li>`,
              )
              .join("")}</ul>`;
      const warnings = p.warnings.map((w) => `<div class="warn">! ${e(w)}</div>`).join("");
      return `<tr class="preset ${p.health}">
<td class="name">${e(p.templateName)}<div class="dim">${e(p.organizationName)}</div></td>
<td class="name">${e(p.versionName)}${p.active ? "" : ` <span class="dim">(inactive)</span>`}</td>
<td class="name">${e(p.presetName)}</td>
<td class="health">${e(p.health.replace("_", " "))}</td>
<td class="policy">${e(p.cancelPolicy)}</td>
${number(p.desired)}${number(p.running)}${number(p.eligible)}${number(p.starting)}${number(p.deleting)}
<td class="plan">${actions}${warnings}</td>
</tr>`;
    })
    .join("\n");
}

function cycleRows(now: Date, cycles: readonly StatusPageCycle[]): string {
  if (cycles.length === 0) {
    return `<tr><td colspan="9" class="dim">No cycle recorded yet.</td></tr>`;
  }
  return cycles
    .map((c) => {
      const took = ((c.finishedAt.getTime() - c.startedAt.getTime()) / 1000).toFixed(3);
      return `<tr class="cycle ${e(c.outcome)}">
<td>${time(now, c.finishedAt)}</td>
<td>${e(c.outcome)}</td>
<td class="n">${took}s</td>
<td class="name">${e(c.replica)}</td>
<td class="n visited">${c.presetsTotal}${c.kind === null ? "" : ` <span class="dim">${e(c.kind)}</span>`}</td>
<td class="n">${c.actionsSucceeded} / ${c.actionsFailed} / ${c.actionsSkipped}</td>
<td class="n">${c.prebuildsCreated} / ${c.prebuildsDeleted} / ${c.jobsCanceled}</td>
<td class="n held-back">${c.createsHeldBack > 0 ? e(describeHeldBack({ creates: c.createsHeldBack, inflight: c.inflightJobs, cap: c.inflightCap })) : "0"}</td>
<td class="name">${e(c.error ?? "")}</td>
</tr>`;
    })
    .join("\n");
}

const STYLE = `body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#222;max-width:100%}
h1{font-size:1.3rem;margin:0}h2{font-size:1.05rem;margin:1.5rem 0 .4rem}
table{border-collapse:collapse;width:100%;table-layout:auto}
th,td{border-bottom:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}
td.name,td.plan,li,.health-item{overflow-wrap:anywhere;word-break:break-word}
td.name{max-width:18rem}ul{margin:0;padding-left:1rem}.dim{color:#777}.why{color:#555}
.bad{color:#a00}.warn{color:#a60}tr.hard_limited td.health,tr.validation_failed td.health{color:#a00;font-weight:bold}
.health-item{margin:.2rem 0}.ok{color:#070}code{background:#f4f4f4;padding:0 .2rem}
.banner{padding:.4rem .6rem;background:#fff4e0;border:1px solid #e0b060;margin:.5rem 0}`;

/** The whole page. `view.read.value` null: nothing could be read yet, the error says why. */
export function renderStatusPage(view: StatusPageView): string {
  const { read, now } = view;
  const data = read.value;
  const banners: string[] = [];
  if (read.error !== null) {
    banners.push(
      `<div class="banner" id="stale">Could not read the database: ${e(read.error)}. ${data === null ? "Nothing to show yet" : "Showing the last successful read"}; retrying.</div>`,
    );
  } else if (read.refreshing) {
    banners.push(
      data === null
        ? `<div class="banner" id="stale">Reading the database for the first time: this page fills in at its next reload.</div>`
        : `<div class="banner" id="stale">The database is slow to answer: showing the last read while it finishes.</div>`,
    );
  }
  const asOf =
    read.loadedAt === null ? "never" : time(now, new Date(read.loadedAt)).replace(/\n/g, "");
  const head = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="${view.refreshSeconds}">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>prebuildsd status</title><style>${STYLE}</style></head>
<body>
<h1>prebuildsd status</h1>
<div class="dim">version ${e(view.version)} · data read ${asOf} · this page reloads every ${view.refreshSeconds}s · <a href="/metrics">/metrics</a></div>
${banners.join("\n")}`;
  if (data === null) return `${head}\n</body></html>\n`;

  const health = healthItems(data);
  const healthHtml =
    health.length === 0
      ? `<div class="ok health-item">All presets healthy; reconciliation is active.</div>`
      : health.map((h) => `<div class="health-item ${h.level}">${h.html}</div>`).join("\n");
  const omitted =
    data.presetsOmitted > 0
      ? `<p class="dim">${data.presetsOmitted} more preset(s) not shown: <code>prebuildsd plan</code> lists every one.</p>`
      : "";
  const q = data.queue;
  return `${head}
<h2>Health</h2>
<section id="health">${healthHtml}</section>
<h2>Presets <span class="dim">(next cycle planned as of ${time(now, data.plannedAt)})</span></h2>
<table id="presets"><thead><tr><th>Template</th><th>Version</th><th>Preset</th><th>Health</th><th>Cancel policy</th><th>Desired</th><th>Running</th><th>Eligible</th><th>Starting</th><th>Deleting</th><th>Next cycle (and why)</th></tr></thead>
<tbody>
${presetRows(data)}
</tbody></table>
${omitted}
<h2>Provisioner queue</h2>
<table id="queue"><thead><tr><th></th><th>All jobs</th><th>Prebuild jobs</th></tr></thead><tbody>
<tr><td>Waiting for a provisioner</td>${number(q.pending)}${number(q.pendingPrebuilds)}</tr>
<tr><td>Building</td>${number(q.running)}${number(q.runningPrebuilds)}</tr>
</tbody></table>
<h2>Last cycles <span class="dim">(${data.presetsInFleet} preset(s) in the fleet: every preset with prebuilds configured, as <code>prebuildsd plan</code> lists them; a full resync visits every active one, an incremental cycle only those changed or due)</span></h2>
<table id="cycles"><thead><tr><th>Finished</th><th>Outcome</th><th>Took</th><th>Replica</th><th>Presets visited</th><th>Actions ok / failed / skipped</th><th>Created / deleted / jobs cancelled</th><th>Creates held back</th><th>Error</th></tr></thead>
<tbody>
${cycleRows(now, data.cycles)}
</tbody></table>
</body></html>
`;
}

// A hand-written SVG of the flood scenario: one panel per run (CancelPending on, then off), on the
// same axes, each with queue depth and the old and new versions' pool sizes over time, and markers
// at the promotion and at the moment the new pools were full.
import type { FloodRun, FloodSample } from "./flood.ts";

const WIDTH = 920;
const PANEL_HEIGHT = 270;
const MARGIN = { left: 56, right: 24, top: 46, bottom: 40 };
const SERIES: readonly { key: keyof FloodSample; label: string; color: string; dash?: string }[] = [
  { key: "queued", label: "queue depth (jobs waiting)", color: "#d9480f" },
  { key: "queuedOld", label: "of which old version", color: "#d9480f", dash: "5 4" },
  { key: "poolOld", label: "old version: running prebuilds", color: "#868e96" },
  { key: "poolNew", label: "new version: running prebuilds", color: "#2b8a3e" },
];

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function niceStep(max: number, ticks: number): number {
  const raw = max / ticks;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw);
  return step ?? 10 * magnitude;
}

function panel(run: FloodRun, top: number, maxT: number, maxY: number): string {
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = PANEL_HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (t: number) => MARGIN.left + (t / maxT) * plotW;
  const y = (v: number) => top + MARGIN.top + plotH - (v / maxY) * plotH;
  const parts: string[] = [];
  const title = run.variant;
  const full =
    run.newPoolFullAfterS === null ? "never" : `after ${run.newPoolFullAfterS.toFixed(1)} s`;
  const oldSeconds = run.oldProvisionerSeconds.start + run.oldProvisionerSeconds.delete;
  parts.push(
    `<text x="${MARGIN.left}" y="${top + 20}" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
    `<text x="${MARGIN.left}" y="${top + 37}" font-size="11" fill="#495057">${escapeXml(
      `new pools full ${full} · old create jobs started after the promotion cycle: ` +
        `${run.oldStartJobsStartedAfterPromotionCycle} · provisioner-s on the old version: ` +
        `${oldSeconds.toFixed(1)} (creates ${run.oldProvisionerSeconds.start.toFixed(1)}, ` +
        `deletes ${run.oldProvisionerSeconds.delete.toFixed(1)})`,
    )}</text>`,
  );
  // Grid and axes.
  const yStep = niceStep(maxY, 5);
  for (let v = 0; v <= maxY; v += yStep) {
    parts.push(
      `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${y(v)}" y2="${y(v)}" stroke="#e9ecef"/>`,
      `<text x="${MARGIN.left - 8}" y="${y(v) + 4}" font-size="11" text-anchor="end" fill="#495057">${v}</text>`,
    );
  }
  const xStep = niceStep(maxT, 10);
  for (let t = 0; t <= maxT; t += xStep) {
    parts.push(
      `<line x1="${x(t)}" x2="${x(t)}" y1="${y(0)}" y2="${y(0) + 4}" stroke="#495057"/>`,
      `<text x="${x(t)}" y="${y(0) + 17}" font-size="11" text-anchor="middle" fill="#495057">${t}</text>`,
    );
  }
  parts.push(
    `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${y(0)}" y2="${y(0)}" stroke="#495057"/>`,
    `<text x="${WIDTH - MARGIN.right}" y="${y(0) + 32}" font-size="11" text-anchor="end" fill="#495057">seconds since the first cycle</text>`,
  );
  // Markers.
  const marker = (t: number, label: string, color: string) =>
    `<line x1="${x(t)}" x2="${x(t)}" y1="${y(maxY)}" y2="${y(0)}" stroke="${color}" stroke-dasharray="4 3"/>` +
    `<text x="${x(t) + 4}" y="${y(maxY) + 11}" font-size="11" fill="${color}">${escapeXml(label)}</text>`;
  parts.push(marker(run.promotedAt, "promotion", "#1c7ed6"));
  if (run.newPoolFullAfterS !== null) {
    parts.push(marker(run.promotedAt + run.newPoolFullAfterS, "new pools full", "#2b8a3e"));
  }
  // Series.
  for (const series of SERIES) {
    const points = run.samples
      .map((s) => `${x(s.t).toFixed(1)},${y(Number(s[series.key])).toFixed(1)}`)
      .join(" ");
    parts.push(
      `<polyline fill="none" stroke="${series.color}" stroke-width="2"${series.dash ? ` stroke-dasharray="${series.dash}"` : ""} points="${points}"/>`,
    );
  }
  return parts.join("\n");
}

export function floodChartSvg(runs: readonly FloodRun[], caption: string): string {
  const maxT = Math.max(1, ...runs.flatMap((r) => r.samples.map((s) => s.t)));
  const maxY = Math.max(
    1,
    ...runs.flatMap((r) => r.samples.map((s) => Math.max(s.queued, s.poolOld, s.poolNew))),
  );
  const legendTop = runs.length * PANEL_HEIGHT + 8;
  const height = legendTop + 44;
  const legend = SERIES.map((s, i) => {
    const left = MARGIN.left + i * 210;
    return (
      `<line x1="${left}" x2="${left + 24}" y1="${legendTop + 10}" y2="${legendTop + 10}" stroke="${s.color}" stroke-width="3"${s.dash ? ` stroke-dasharray="${s.dash}"` : ""}/>` +
      `<text x="${left + 30}" y="${legendTop + 14}" font-size="12">${escapeXml(s.label)}</text>`
    );
  }).join("\n");
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="system-ui, sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    ...runs.map((run, i) => panel(run, i * PANEL_HEIGHT, maxT, maxY)),
    legend,
    `<text x="${MARGIN.left}" y="${legendTop + 34}" font-size="11" fill="#868e96">${escapeXml(caption)}</text>`,
    "</svg>",
    "",
  ].join("\n");
}

// What every fault scenario checks afterwards, as plain queries (no vitest: the stress script
// uses them too): Prometheus series, half-created prebuilds, and each preset's pool.
import type pg from "pg";

/** The value of one series in Prometheus text, e.g. `metric(body, "x_total", {outcome: "y"})`. */
export function metric(body: string, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of body.split("\n")) {
    if (!line.startsWith(name)) continue;
    const match = /^([a-zA-Z_:][\w:]*)(\{([^}]*)\})? (\S+)$/.exec(line);
    if (match === null || match[1] !== name) continue;
    const present = (match[3] ?? "").split(",").filter((s) => s !== "");
    if (wanted.every((w) => present.includes(w))) return Number(match[4]);
  }
  return Number.NaN;
}

/**
 * Prebuilds left half-created: a workspace of the prebuilds user with no build, or whose build
 * lost its job. A Create writes all three in one statement, so after any fault this is empty.
 */
export async function halfCreatedPrebuilds(pool: pg.Pool): Promise<string[]> {
  const rows = await pool.query<{ id: string }>(`
    SELECT w.id FROM workspaces w
    WHERE w.owner_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0' AND NOT EXISTS (
      SELECT 1 FROM workspace_builds wb JOIN provisioner_jobs pj ON pj.id = wb.job_id
      WHERE wb.workspace_id = w.id)`);
  return rows.rows.map((r) => r.id);
}

/**
 * Per preset: live prebuilds (unclaimed, not deleted, latest build a start that is pending,
 * running or succeeded) against desired_instances, and how many first builds were ever created.
 */
export interface PresetPool {
  readonly presetId: string;
  readonly presetName: string;
  readonly versionName: string;
  readonly active: boolean;
  readonly desired: number;
  readonly live: number;
  readonly everCreated: number;
}

export async function presetPools(pool: pg.Pool): Promise<PresetPool[]> {
  const rows = await pool.query<PresetPool>(`
    SELECT p.id AS "presetId", p.name AS "presetName", tv.name AS "versionName",
           (t.active_version_id = tv.id AND NOT t.deleted AND t.deprecated = '') AS active,
           p.desired_instances AS desired,
           (SELECT count(*)::int FROM workspaces w
              JOIN workspace_latest_builds lb ON lb.workspace_id = w.id
              JOIN workspace_builds first ON first.workspace_id = w.id AND first.build_number = 1
            WHERE first.template_version_preset_id = p.id
              AND w.owner_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0' AND NOT w.deleted
              AND lb.transition = 'start'
              AND lb.job_status IN ('pending', 'running', 'succeeded')) AS live,
           (SELECT count(*)::int FROM workspace_builds b
            WHERE b.template_version_preset_id = p.id AND b.build_number = 1
              AND b.initiator_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0') AS "everCreated"
    FROM template_version_presets p
    JOIN template_versions tv ON tv.id = p.template_version_id
    JOIN templates t ON t.id = tv.template_id
    WHERE p.desired_instances IS NOT NULL
    ORDER BY tv.created_at, p.name`);
  return rows.rows;
}

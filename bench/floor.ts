// The database's own floor, which the reconciler's figures are compared with:
//  - reading: the snapshot's rows fetched with the simplest scans and joins that return them on a
//    generated fleet (no view logic, no "latest build" ranking: the generator knows each running
//    prebuild has one build), in the same REPEATABLE READ envelope and through the same driver, so
//    what remains of the ratio is the cost of the real queries' logic. Like the snapshot, it reads
//    the presets of active versions and those of running prebuilds (passed as ids from the running
//    rows), not the old versions' presets that have nothing to do;
//  - creating: the rows of N prebuilds (workspaces, jobs, builds, build parameters) written with one
//    plain INSERT … SELECT per table in one transaction.
import type { ClientBase } from "pg";
import { PREBUILDS_SYSTEM_USER_ID } from "../src/prebuildsUser.ts";
import { ORGANIZATION_ID_SQL } from "./fleet.ts";

const PREBUILDS = `'${PREBUILDS_SYSTEM_USER_ID}'::uuid`;

/** Each query of the read floor, named after the snapshot query whose rows it reads. */
export const SNAPSHOT_FLOOR_QUERIES: readonly { readonly name: string; readonly sql: string }[] = [
  { name: "lock", sql: "SELECT pg_try_advisory_xact_lock(7) AS locked" },
  {
    name: "settings",
    sql: "SELECT value FROM site_configs WHERE key = 'prebuilds_settings'",
  },
  {
    name: "schedules",
    sql: "SELECT preset_id, cron_expression, desired_instances FROM template_version_preset_prebuild_schedules",
  },
  {
    name: "running",
    sql: `SELECT w.id, w.name, w.template_id, w.created_at, wb.template_version_id,
        wb.template_version_preset_id AS preset_id, wa.lifecycle_state = 'ready' AS ready
      FROM workspaces w
      JOIN workspace_builds wb ON wb.workspace_id = w.id
      JOIN provisioner_jobs pj ON pj.id = wb.job_id
      JOIN workspace_resources wr ON wr.job_id = pj.id
      JOIN workspace_agents wa ON wa.resource_id = wr.id
      WHERE w.owner_id = ${PREBUILDS} AND NOT w.deleted AND wb.transition = 'start'
        AND pj.job_status = 'succeeded'`,
  },
  {
    // $1: the preset ids of the running rows read just before (as the snapshot passes them).
    name: "presets",
    sql: `SELECT p.id, p.name, p.desired_instances, p.invalidate_after_secs, p.prebuild_status,
        p.scheduling_timezone, p.last_invalidated_at, tv.id AS template_version_id,
        tv.name AS template_version_name, t.id AS template_id, t.name AS template_name,
        t.active_version_id = tv.id AS using_active_version, t.deleted, t.deprecated <> '' AS deprecated,
        o.id AS organization_id, o.name AS organization_name
      FROM template_version_presets p
      JOIN template_versions tv ON tv.id = p.template_version_id
      JOIN templates t ON t.id = tv.template_id
      JOIN organizations o ON o.id = t.organization_id
      WHERE p.desired_instances IS NOT NULL
        AND ((t.active_version_id = tv.id AND NOT t.deleted) OR p.id = ANY($1::uuid[]))`,
  },
  {
    name: "in progress and pending",
    sql: `SELECT job_status, count(*) FROM provisioner_jobs
      WHERE job_status IN ('pending', 'running') GROUP BY job_status`,
  },
  {
    name: "failures (backoff, hard limit)",
    sql: `SELECT wb.template_version_preset_id, count(*) AS failed, max(wb.created_at) AS last_failed_at
      FROM workspace_builds wb
      JOIN templates t ON t.active_version_id = wb.template_version_id
      JOIN provisioner_jobs pj ON pj.id = wb.job_id
      WHERE pj.job_status = 'failed'
      GROUP BY wb.template_version_preset_id`,
  },
];

export interface FloorSample {
  readonly totalMs: number;
  readonly rows: Record<string, number>;
  readonly queryMs: Record<string, number>;
}

/** One read of the floor inside a REPEATABLE READ READ ONLY transaction, like a cycle's snapshot. */
export async function readSnapshotFloor(client: ClientBase): Promise<FloorSample> {
  const rows: Record<string, number> = {};
  const queryMs: Record<string, number> = {};
  const started = performance.now();
  await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
  try {
    let runningPresetIds: string[] = [];
    for (const query of SNAPSHOT_FLOOR_QUERIES) {
      const t = performance.now();
      const result =
        query.name === "presets"
          ? await client.query(query.sql, [runningPresetIds])
          : await client.query(query.sql);
      if (query.name === "running") {
        runningPresetIds = [
          ...new Set(
            (result.rows as { preset_id: string | null }[]).flatMap((r) =>
              r.preset_id === null ? [] : [r.preset_id],
            ),
          ),
        ];
      }
      queryMs[query.name] = performance.now() - t;
      rows[query.name] = result.rowCount ?? 0;
    }
  } finally {
    await client.query("COMMIT");
  }
  return { totalMs: performance.now() - started, rows, queryMs };
}

/**
 * Inserts `perPreset` prebuilds for every preset of an active version, one INSERT per table, in one
 * transaction; returns the elapsed milliseconds and the number of prebuilds written.
 */
export async function insertCreationFloor(
  client: ClientBase,
  perPreset: number,
  now: Date,
): Promise<{ ms: number; prebuilds: number }> {
  const at = `'${now.toISOString()}'::timestamptz`;
  // Every active preset, numbered, and the i-th prebuild of it: the coordinates each INSERT derives
  // its ids from, so the four statements agree without reading each other's rows.
  const targets = `SELECT p.id AS preset_id, t.active_version_id AS version_id, t.id AS template_id,
        ((row_number() OVER (ORDER BY p.id)) - 1) * ${perPreset} + i AS n
      FROM template_version_presets p
      JOIN templates t ON t.active_version_id = p.template_version_id AND NOT t.deleted
      CROSS JOIN generate_series(1, ${perPreset}) AS i
      WHERE p.desired_instances IS NOT NULL`;
  const w = "md5('floor-w:' || n)::uuid";
  const j = "md5('floor-j:' || n)::uuid";
  const b = "md5('floor-b:' || n)::uuid";
  const started = performance.now();
  await client.query("BEGIN");
  let prebuilds = 0;
  try {
    const inserted = await client.query(
      `INSERT INTO workspaces (id, created_at, updated_at, owner_id, organization_id, template_id, name, last_used_at)
       SELECT ${w}, ${at}, ${at}, ${PREBUILDS}, ${ORGANIZATION_ID_SQL}, template_id,
         'prebuild-' || substr(md5(random()::text || n), 1, 16), ${at}
       FROM (${targets}) AS s`,
    );
    prebuilds = inserted.rowCount ?? 0;
    await client.query(
      `INSERT INTO provisioner_jobs (id, created_at, updated_at, organization_id, initiator_id, type, input, tags)
       SELECT ${j}, ${at}, ${at}, ${ORGANIZATION_ID_SQL}, ${PREBUILDS}, 'workspace_build',
         jsonb_build_object('workspace_build_id', ${b}, 'prebuilt_workspace_build_stage', 'CREATE'),
         '{"scope": "organization", "owner": ""}'
       FROM (${targets}) AS s`,
    );
    await client.query(
      `INSERT INTO workspace_builds (id, created_at, updated_at, workspace_id, template_version_id,
         build_number, transition, initiator_id, job_id, template_version_preset_id, reason)
       SELECT ${b}, ${at}, ${at}, ${w}, version_id, 1, 'start', ${PREBUILDS}, ${j}, preset_id, 'initiator'
       FROM (${targets}) AS s`,
    );
    await client.query(
      `INSERT INTO workspace_build_parameters (workspace_build_id, name, value)
       SELECT ${b}, pp.name, pp.value
       FROM (${targets}) AS s
       JOIN template_version_preset_parameters pp ON pp.template_version_preset_id = s.preset_id`,
    );
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK");
    throw error;
  }
  return { ms: performance.now() - started, prebuilds };
}

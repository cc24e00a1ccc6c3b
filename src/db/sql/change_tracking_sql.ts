import type { QueryArrayConfig, QueryArrayResult } from "pg";

interface Client {
    query: (config: QueryArrayConfig) => Promise<QueryArrayResult>;
}

export const getCycleWorkQuery = `-- name: GetCycleWork :one

WITH clock AS (
  SELECT COALESCE($1::timestamptz, statement_timestamp()) AS now
),
marked AS (
  SELECT m.preset_id FROM prebuild_marked_presets m WHERE m.preset_id IS NOT NULL
  UNION
  SELECT w.preset_id FROM prebuild_preset_wakeups w, clock c WHERE w.due_at <= c.now
),
widened AS (
  SELECT m.preset_id FROM marked m
  UNION
  SELECT partner.id
  FROM marked m
  JOIN template_version_presets tvp ON tvp.id = m.preset_id
  JOIN template_versions tv ON tv.id = tvp.template_version_id
  JOIN prebuild_rollout_policies rp ON rp.template_id = tv.template_id AND rp.strategy = 'surge'
  JOIN templates t ON t.id = tv.template_id
  LEFT JOIN prebuild_template_promotions pr ON pr.template_id = t.id
  JOIN template_version_presets partner
    ON partner.template_version_id IN (t.active_version_id, pr.previous_version_id)
    AND partner.name = tvp.name
)
SELECT
  (SELECT c.now FROM clock c)::timestamptz AS now,
  COALESCE(
    (SELECT s.last_full_resync_at FROM prebuild_reconciler_state s LIMIT 1),
    'epoch'::timestamptz
  )::timestamptz AS last_full_resync_at,
  EXISTS (SELECT 1 FROM prebuild_dirty_presets d WHERE d.preset_id IS NULL)::boolean
    AS everything_dirty,
  COALESCE((
    SELECT r.outcome = 'failed'
    FROM prebuild_reconciliation_runs r
    ORDER BY r.id DESC
    LIMIT 1
  ), false)::boolean AS last_run_failed,
  (SELECT count(*) FROM marked)::integer AS marked_presets,
  ARRAY(SELECT w.preset_id FROM widened w)::uuid[] AS preset_ids`;

export interface GetCycleWorkArgs {
    now: Date | null;
}

export interface GetCycleWorkRow {
    now: Date;
    lastFullResyncAt: Date;
    everythingDirty: boolean;
    lastRunFailed: boolean;
    markedPresets: number;
    presetIds: string[];
}

export async function getCycleWork(client: Client, args: GetCycleWorkArgs): Promise<GetCycleWorkRow | null> {
    const result = await client.query({
        text: getCycleWorkQuery,
        values: [args.now],
        rowMode: "array"
    });
    if (result.rows.length !== 1) {
        return null;
    }
    const row = result.rows[0];
    if (!row) {
        return null;
    }
    return {
        now: row[0],
        lastFullResyncAt: row[1],
        everythingDirty: row[2],
        lastRunFailed: row[3],
        markedPresets: row[4],
        presetIds: row[5]
    };
}

export const finishCycleQuery = `-- name: FinishCycle :one
WITH consumed AS (
  DELETE FROM prebuild_dirty_presets
  RETURNING preset_id
),
consumed_rows AS (
  DELETE FROM prebuild_dirty_rows
  RETURNING row_id
),
remarked AS (
  INSERT INTO prebuild_dirty_presets (preset_id)
  SELECT r.preset_id FROM unnest($1::uuid[]) AS r (preset_id)
  RETURNING preset_id
),
forgotten AS (
  DELETE FROM prebuild_preset_wakeups w
  WHERE ($2::boolean OR w.preset_id = ANY($3::uuid[]))
    AND NOT (w.preset_id = ANY($4::uuid[]))
  RETURNING w.preset_id
),
scheduled AS (
  INSERT INTO prebuild_preset_wakeups (preset_id, due_at)
  SELECT d.preset_id, d.due_at
  FROM unnest($4::uuid[], $5::timestamptz[]) AS d (preset_id, due_at)
  ON CONFLICT (preset_id) DO UPDATE SET due_at = excluded.due_at
  RETURNING preset_id
),
resynced AS (
  UPDATE prebuild_reconciler_state
  SET last_full_resync_at = $6::timestamptz
  WHERE $2::boolean
  RETURNING singleton
)
SELECT
  ((SELECT count(*) FROM consumed) + (SELECT count(*) FROM consumed_rows))::integer AS consumed,
  (SELECT count(*) FROM remarked)::integer AS remarked,
  (SELECT count(*) FROM scheduled)::integer AS scheduled,
  (SELECT count(*) FROM forgotten)::integer AS forgotten,
  (SELECT count(*) FROM resynced)::integer AS resynced`;

export interface FinishCycleArgs {
    retryPresetIds: string[];
    fullResync: boolean;
    visitedPresetIds: string[];
    duePresetIds: string[];
    dueAts: Date[];
    now: Date;
}

export interface FinishCycleRow {
    consumed: number;
    remarked: number;
    scheduled: number;
    forgotten: number;
    resynced: number;
}

export async function finishCycle(client: Client, args: FinishCycleArgs): Promise<FinishCycleRow | null> {
    const result = await client.query({
        text: finishCycleQuery,
        values: [args.retryPresetIds, args.fullResync, args.visitedPresetIds, args.duePresetIds, args.dueAts, args.now],
        rowMode: "array"
    });
    if (result.rows.length !== 1) {
        return null;
    }
    const row = result.rows[0];
    if (!row) {
        return null;
    }
    return {
        consumed: row[0],
        remarked: row[1],
        scheduled: row[2],
        forgotten: row[3],
        resynced: row[4]
    };
}

export const markEverythingDirtyQuery = `-- name: MarkEverythingDirty :exec
INSERT INTO prebuild_dirty_presets (preset_id) VALUES (NULL)`;

export async function markEverythingDirty(client: Client): Promise<void> {
    await client.query({
        text: markEverythingDirtyQuery,
        values: [],
        rowMode: "array"
    });
}


import type { QueryArrayConfig, QueryArrayResult } from "pg";

interface Client {
    query: (config: QueryArrayConfig) => Promise<QueryArrayResult>;
}

export const getCycleWorkQuery = `-- name: GetCycleWork :one

SELECT
  COALESCE(
    (SELECT s.last_full_resync_at FROM prebuild_reconciler_state s LIMIT 1),
    'epoch'::timestamptz
  )::timestamptz AS last_full_resync_at,
  EXISTS (SELECT 1 FROM prebuild_dirty_presets d WHERE d.preset_id IS NULL)::boolean
    AS everything_dirty,
  ARRAY(
    SELECT d.preset_id FROM prebuild_dirty_presets d WHERE d.preset_id IS NOT NULL
    UNION
    SELECT w.preset_id FROM prebuild_preset_wakeups w WHERE w.due_at <= $1::timestamptz
  )::uuid[] AS preset_ids`;

export interface GetCycleWorkArgs {
    now: Date;
}

export interface GetCycleWorkRow {
    lastFullResyncAt: Date;
    everythingDirty: boolean;
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
        lastFullResyncAt: row[0],
        everythingDirty: row[1],
        presetIds: row[2]
    };
}

export const finishCycleQuery = `-- name: FinishCycle :one
WITH consumed AS (
  DELETE FROM prebuild_dirty_presets
  RETURNING id
),
remarked AS (
  INSERT INTO prebuild_dirty_presets (preset_id)
  SELECT r.preset_id FROM unnest($1::uuid[]) AS r (preset_id)
  RETURNING id
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
  (SELECT count(*) FROM consumed)::integer AS consumed,
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


import type { QueryArrayConfig, QueryArrayResult } from "pg";

interface Client {
    query: (config: QueryArrayConfig) => Promise<QueryArrayResult>;
}

export const getPoolControlsQuery = `-- name: GetPoolControls :one

SELECT
  COALESCE((
    SELECT jsonb_agg(jsonb_build_object(
      'template_id', pp.template_id, 'preset_name', pp.preset_name, 'paused_at', pp.paused_at
    ) ORDER BY pp.template_id, pp.preset_name)
    FROM prebuild_pauses pp
  ), '[]'::jsonb)::text AS pauses_json,
  COALESCE((
    SELECT jsonb_agg(jsonb_build_object(
      'preset_id', o.preset_id, 'desired_instances', o.desired_instances
    ) ORDER BY o.preset_id)
    FROM prebuild_desired_overrides o
  ), '[]'::jsonb)::text AS overrides_json,
  COALESCE((
    SELECT jsonb_agg(jsonb_build_object(
      'template_id', rp.template_id,
      'strategy', rp.strategy,
      'promoted_at', pr.promoted_at,
      'previous_version_id', pr.previous_version_id
    ) ORDER BY rp.template_id)
    FROM prebuild_rollout_policies rp
    JOIN templates t ON t.id = rp.template_id
    LEFT JOIN prebuild_template_promotions pr
      ON pr.template_id = t.id AND pr.active_version_id = t.active_version_id
  ), '[]'::jsonb)::text AS rollouts_json`;

export interface GetPoolControlsRow {
    pausesJson: string;
    overridesJson: string;
    rolloutsJson: string;
}

export async function getPoolControls(client: Client): Promise<GetPoolControlsRow | null> {
    const result = await client.query({
        text: getPoolControlsQuery,
        values: [],
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
        pausesJson: row[0],
        overridesJson: row[1],
        rolloutsJson: row[2]
    };
}

export const getStoppedPrebuildsQuery = `-- name: GetStoppedPrebuilds :many
SELECT
  w.id AS workspace_id,
  w.name::text AS workspace_name,
  w.template_id,
  lb.template_version_id,
  COALESCE(
    lb.template_version_preset_id,
    (
      SELECT wb.template_version_preset_id
      FROM workspace_builds wb
      WHERE wb.workspace_id = w.id
        AND wb.transition = 'start'
        AND wb.template_version_preset_id IS NOT NULL
      ORDER BY wb.build_number DESC
      LIMIT 1
    )
  )::uuid AS current_preset_id,
  pj.job_status::text AS stop_status,
  w.created_at
FROM workspaces w
JOIN workspace_builds lb ON lb.workspace_id = w.id
JOIN provisioner_jobs pj ON pj.id = lb.job_id
WHERE w.owner_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
  AND NOT w.deleted
  AND lb.transition = 'stop'
  AND pj.job_status IN ('succeeded', 'failed')
  AND NOT EXISTS (
    SELECT 1
    FROM workspace_builds newer
    WHERE newer.workspace_id = lb.workspace_id AND newer.build_number > lb.build_number
  )
  AND (
    NOT $1::boolean
    OR w.id IN (
      SELECT pb.workspace_id
      FROM workspace_builds pb
      WHERE pb.template_version_preset_id = ANY($2::uuid[])
    )
  )
ORDER BY w.id`;

export interface GetStoppedPrebuildsArgs {
    onlyPresets: boolean;
    presetIds: string[];
}

export interface GetStoppedPrebuildsRow {
    workspaceId: string;
    workspaceName: string;
    templateId: string;
    templateVersionId: string;
    currentPresetId: string;
    stopStatus: string;
    createdAt: Date;
}

export async function getStoppedPrebuilds(client: Client, args: GetStoppedPrebuildsArgs): Promise<GetStoppedPrebuildsRow[]> {
    const result = await client.query({
        text: getStoppedPrebuildsQuery,
        values: [args.onlyPresets, args.presetIds],
        rowMode: "array"
    });
    return result.rows.map(row => {
        return {
            workspaceId: row[0],
            workspaceName: row[1],
            templateId: row[2],
            templateVersionId: row[3],
            currentPresetId: row[4],
            stopStatus: row[5],
            createdAt: row[6]
        };
    });
}


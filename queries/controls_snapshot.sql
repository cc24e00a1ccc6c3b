-- The pool controls a cycle plans with (issue #15), read in the snapshot's REPEATABLE READ
-- transaction like the five reads of snapshot.sql. Operator state is a handful of rows, so it is
-- read whole, in one statement, whatever subset of presets the cycle reads; each list is a JSON
-- array decoded (and checked) by src/snapshot/poolControls.ts.

-- name: GetPoolControls :one
-- pauses: [{template_id, preset_name, paused_at}]; overrides: [{preset_id, desired_instances}];
-- rollouts: [{template_id, strategy, promoted_at, previous_version_id}], one per template with a
-- policy (none = 'replace'); the promotion only when it is the one that made the current active
-- version active (a platform that rewrote active_version_id without our trigger leaves none).
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
  ), '[]'::jsonb)::text AS rollouts_json;

-- name: GetStoppedPrebuilds :many
-- PREBUILDS_REPLACE_STOPPED only (issue #15): unclaimed prebuilds whose latest build is a stop
-- that succeeded (stopped by the platform, e.g. autostop) or failed. They hold no ready workspace
-- and are counted by no pool; the planner deletes them and the normal fill replaces them.
-- current_preset_id as in GetLatestPrebuildStartBuilds: the stop build's own preset, else the
-- preset of the most recent start build that had one. @only_presets as in snapshot.sql.
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
    NOT @only_presets::boolean
    OR w.id IN (
      SELECT pb.workspace_id
      FROM workspace_builds pb
      WHERE pb.template_version_preset_id = ANY(@preset_ids::uuid[])
    )
  )
ORDER BY w.id;

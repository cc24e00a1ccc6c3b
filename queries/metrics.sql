-- The Prometheus totals the reference derives from the database (§8), so they survive restarts
-- and agree across replicas: first builds (build_number 1) of prebuilds, per template, preset and
-- organization; deleted templates excluded, deleted workspaces kept (a counter never goes down).

-- name: GetPrebuildMetrics :many
SELECT t.name AS template_name,
       p.name AS preset_name,
       o.name AS organization_name,
       count(*)::int AS created_count,
       (count(*) FILTER (WHERE pj.job_status = 'failed'))::int AS failed_count,
       (count(*) FILTER (
         WHERE w.owner_id <> 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
       ))::int AS claimed_count
FROM workspace_prebuild_builds wpb
JOIN workspaces w ON w.id = wpb.workspace_id
JOIN templates t ON t.id = w.template_id
JOIN template_version_presets p ON p.id = wpb.template_version_preset_id
JOIN provisioner_jobs pj ON pj.id = wpb.job_id
JOIN organizations o ON o.id = w.organization_id
WHERE wpb.build_number = 1 AND NOT t.deleted
GROUP BY t.name, p.name, o.name
ORDER BY t.name, p.name, o.name;

-- Provisioner jobs of prebuild builds per preset, by state: the demo's live view (queue depth, and
-- the old version's jobs being cancelled after a promotion).
-- name: CountPrebuildJobsByPreset :many
SELECT wpb.template_version_preset_id AS preset_id,
       (count(*) FILTER (WHERE pj.job_status = 'pending'))::int AS queued,
       (count(*) FILTER (WHERE pj.job_status = 'running'))::int AS building,
       (count(*) FILTER (WHERE pj.job_status = 'canceled'))::int AS canceled,
       (count(*) FILTER (WHERE pj.job_status = 'failed'))::int AS failed
FROM workspace_prebuild_builds wpb
JOIN provisioner_jobs pj ON pj.id = wpb.job_id
WHERE wpb.template_version_preset_id IS NOT NULL AND wpb.transition = 'start'
GROUP BY wpb.template_version_preset_id
ORDER BY wpb.template_version_preset_id;

-- Regular workspace creations, for the claim hit rate claims ÷ (claims + regular creations) that
-- coder/observability's prebuilds dashboard charts: successful first builds of workspaces a user
-- (not the prebuilds user) created, per template, preset ('' when none) and organization, as
-- Coder's coderd_workspace_creation_total counts them (deleted workspaces kept; deleted templates
-- excluded like the prebuild totals above).
-- name: GetRegularWorkspaceCreations :many
SELECT t.name AS template_name,
       COALESCE(p.name, '')::text AS preset_name,
       o.name AS organization_name,
       count(*)::int AS created_count
FROM workspace_builds wb
JOIN workspaces w ON w.id = wb.workspace_id
JOIN templates t ON t.id = w.template_id
JOIN organizations o ON o.id = w.organization_id
JOIN provisioner_jobs pj ON pj.id = wb.job_id
LEFT JOIN template_version_presets p ON p.id = wb.template_version_preset_id
WHERE wb.build_number = 1
  AND wb.transition = 'start'::workspace_transition
  AND wb.initiator_id <> 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
  AND pj.job_status = 'succeeded'::provisioner_job_status
  AND NOT t.deleted
GROUP BY t.name, p.name, o.name
ORDER BY t.name, p.name, o.name;

-- The provisioner queue's depth (issue #14): jobs pending and running, split by who initiated
-- them (the prebuilds user or anyone else), and how long the oldest pending job of each kind has
-- waited by the database clock (0 when none). Read through idx_provisioner_jobs_status.
-- name: GetProvisionerJobQueue :one
SELECT
  (count(*) FILTER (
    WHERE pj.job_status = 'pending'::provisioner_job_status
      AND pj.initiator_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
  ))::int AS pending_prebuilds,
  (count(*) FILTER (
    WHERE pj.job_status = 'pending'::provisioner_job_status
      AND pj.initiator_id <> 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
  ))::int AS pending_user,
  (count(*) FILTER (
    WHERE pj.job_status = 'running'::provisioner_job_status
      AND pj.initiator_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
  ))::int AS running_prebuilds,
  (count(*) FILTER (
    WHERE pj.job_status = 'running'::provisioner_job_status
      AND pj.initiator_id <> 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
  ))::int AS running_user,
  COALESCE(EXTRACT(EPOCH FROM now() - min(pj.created_at) FILTER (
    WHERE pj.job_status = 'pending'::provisioner_job_status
      AND pj.initiator_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
  )), 0)::float8 AS oldest_pending_prebuilds_seconds,
  COALESCE(EXTRACT(EPOCH FROM now() - min(pj.created_at) FILTER (
    WHERE pj.job_status = 'pending'::provisioner_job_status
      AND pj.initiator_id <> 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
  )), 0)::float8 AS oldest_pending_user_seconds
FROM provisioner_jobs pj
WHERE pj.job_status = ANY('{pending,running}'::provisioner_job_status[]);

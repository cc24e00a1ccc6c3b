-- Cancellation and admission (issue #13): the template's cancel policy, the stale running jobs
-- policy "running" asks to cancel, and the workspaces of first builds canceled while running.
-- 'c42fdf75-3097-471c-8c33-fb52454d81c0' is the prebuilds system user (src/prebuildsUser.ts).

-- name: SetTemplateCancelPolicy :one
-- `prebuildsd cancel-policy <template> <policy>`: one UPDATE of the template row, which the
-- template's change-tracking trigger (migration 0042) turns into dirty marks for every preset of
-- every version of the template, so the next cycle applies the policy. previous_policy is the
-- value before this statement (the row is locked by the UPDATE; the sub-select reads it first).
-- No row: the template is gone or deleted.
UPDATE templates t
SET prebuild_cancel_policy = @policy::text, updated_at = now()
FROM (
  SELECT p.id, p.prebuild_cancel_policy AS previous_policy
  FROM templates p
  WHERE p.id = @template_id::uuid
  FOR UPDATE
) old
WHERE t.id = old.id
  AND NOT t.deleted
RETURNING t.id, t.name, old.previous_policy::text AS previous_policy,
  t.prebuild_cancel_policy::text AS policy;

-- name: ListRunningStaleFirstBuildJobs :many
-- Cancel policy "running" (issue #13), re-checked at write time: the running (acquired, not
-- completed, not yet asked to cancel) first start builds of this preset, initiated by the prebuilds
-- user, while the preset is inactive and its template's policy is still 'running'. The caller asks
-- each to cancel through cancelJob, which settles every race with acquire and complete itself.
SELECT pj.id AS job_id
FROM workspace_builds wb
JOIN provisioner_jobs pj ON pj.id = wb.job_id
JOIN workspaces w ON w.id = wb.workspace_id
JOIN templates t ON t.id = w.template_id
WHERE wb.template_version_preset_id = @preset_id::uuid
  AND wb.initiator_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
  AND wb.build_number = 1
  AND wb.transition = 'start'
  AND (wb.template_version_id <> t.active_version_id OR t.deleted OR t.deprecated <> '')
  AND t.prebuild_cancel_policy = 'running'
  AND pj.job_status = 'running'
  AND pj.canceled_at IS NULL
ORDER BY pj.started_at, pj.id;

-- name: ListCanceledAcquiredFirstBuilds :many
-- The workspaces whose only build is this inactive preset's first start build, canceled after a
-- worker had acquired it and ended since, while the template's policy is 'running' (re-checked):
-- something may have been provisioned, so each gets an orphan delete through a provisioner
-- (InsertOrphanDeleteBuilds: its job was acquired, so it is not a free delete). Still owned by the
-- prebuilds user and not deleted; a workspace with a later build has its delete already.
SELECT wb.workspace_id
FROM workspace_builds wb
JOIN provisioner_jobs pj ON pj.id = wb.job_id
JOIN workspaces w ON w.id = wb.workspace_id
JOIN templates t ON t.id = w.template_id
WHERE wb.template_version_preset_id = @preset_id::uuid
  AND wb.initiator_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
  AND wb.build_number = 1
  AND wb.transition = 'start'
  AND (wb.template_version_id <> t.active_version_id OR t.deleted OR t.deprecated <> '')
  AND t.prebuild_cancel_policy = 'running'
  AND pj.canceled_at IS NOT NULL
  AND pj.started_at IS NOT NULL
  AND pj.completed_at IS NOT NULL
  AND pj.job_status = 'canceled'
  AND w.owner_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
  AND NOT w.deleted
  AND NOT EXISTS (
    SELECT 1
    FROM workspace_builds newer
    WHERE newer.workspace_id = wb.workspace_id AND newer.build_number > wb.build_number
  )
ORDER BY wb.workspace_id;

-- name: ListNonDefaultCancelPolicies :many
-- `prebuildsd status`: the live templates whose cancel policy is not the default 'pending', with
-- their organization (a template name is unique only within one).
SELECT o.name::text AS organization_name, t.name::text AS template_name,
       t.prebuild_cancel_policy::text AS policy
FROM templates t
JOIN organizations o ON o.id = t.organization_id
WHERE NOT t.deleted
  AND t.prebuild_cancel_policy <> 'pending'
ORDER BY o.name, t.name, t.id;

-- name: LockInflightCap :exec
-- The in-flight cap's write lock (issue #13), held until the caller's transaction ends: every
-- create under PREBUILDS_MAX_INFLIGHT_JOBS takes it (after its preset's lock: one order, no
-- deadlock), then counts the jobs in flight in its NEXT statement (CountInflightPrebuildJobs),
-- which therefore sees every job a previous holder committed. Two writers, two replicas or a stale
-- plan included, never take the queue past the cap. Only capped creates take it.
SELECT pg_advisory_xact_lock(hashtext('prebuildsd.max_inflight_jobs'))::text AS locked;

-- name: CountProvisionerJobsByTemplate :many
-- Queue metrics per template (issue #13), read by the state sampler, never by a scrape: workspace
-- build jobs pending or running, by template and by initiator (the prebuilds user or anyone else),
-- and the age of each template's oldest pending job by the database clock. From the in-flight jobs
-- (idx_provisioner_jobs_status) to their build's workspace; jobs without a build are in the
-- per-initiator totals (GetProvisionerJobQueue) only.
SELECT
  t.name::text AS template_name,
  pj.job_status::text AS status,
  (pj.initiator_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid)::boolean AS prebuilds,
  count(*)::integer AS jobs,
  COALESCE(EXTRACT(EPOCH FROM now() - min(pj.created_at)), 0)::float8 AS oldest_seconds
FROM provisioner_jobs pj
JOIN workspace_builds wb ON wb.job_id = pj.id
JOIN workspaces w ON w.id = wb.workspace_id
JOIN templates t ON t.id = w.template_id
WHERE pj.job_status = ANY('{pending,running}'::provisioner_job_status[])
GROUP BY t.name, pj.job_status, (pj.initiator_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid)
ORDER BY t.name, pj.job_status::text, 3;

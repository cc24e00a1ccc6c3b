-- The reconciler's snapshot (reference §2.2): seven set-based reads taken in the one REPEATABLE
-- READ transaction that holds the reconciliation lock. Each reads every preset at once, so a cycle
-- costs the same number of round trips for 10 presets as for 30,000.
-- 'c42fdf75-3097-471c-8c33-fb52454d81c0' is the prebuilds system user (src/prebuildsUser.ts), as
-- in the schema's views.

-- name: GetTemplatePresetsWithPrebuilds :many
-- Every preset that wants prebuilds, on every version (old ones included: they may still have
-- prebuilds to delete or jobs to cancel) of every template (deleted ones included).
SELECT
  t.id AS template_id,
  t.name::text AS template_name,
  o.id AS organization_id,
  o.name AS organization_name,
  tv.id AS template_version_id,
  tv.name AS template_version_name,
  (tv.id = t.active_version_id)::boolean AS using_active_version,
  tvp.id AS preset_id,
  tvp.name AS preset_name,
  tvp.desired_instances::integer AS desired_instances,
  tvp.invalidate_after_secs AS ttl_seconds,
  tvp.prebuild_status,
  tvp.scheduling_timezone,
  tvp.last_invalidated_at,
  t.deleted AS template_deleted,
  (t.deprecated <> '')::boolean AS template_deprecated,
  -- Bad data (active_version_id has no foreign key): the active version is none of the template's
  -- versions. Every preset of it is then inactive, and the reconciler logs the template (issue #8).
  EXISTS (
    SELECT 1 FROM template_versions av WHERE av.id = t.active_version_id AND av.template_id = t.id
  )::boolean AS active_version_exists
FROM template_version_presets tvp
JOIN template_versions tv ON tv.id = tvp.template_version_id
JOIN templates t ON t.id = tv.template_id
JOIN organizations o ON o.id = t.organization_id
WHERE tvp.desired_instances IS NOT NULL
ORDER BY t.name, tv.created_at, tvp.name, tvp.id;

-- name: GetActivePresetPrebuildSchedules :many
-- Schedules only matter for presets that can create: active version, template neither deleted
-- nor deprecated.
SELECT
  s.id,
  s.preset_id,
  s.cron_expression,
  s.desired_instances
FROM template_version_preset_prebuild_schedules s
JOIN template_version_presets tvp ON tvp.id = s.preset_id
JOIN template_versions tv ON tv.id = tvp.template_version_id
JOIN templates t ON t.id = tv.template_id AND t.active_version_id = tv.id
WHERE tvp.desired_instances IS NOT NULL
  AND NOT t.deleted
  AND t.deprecated = ''
ORDER BY s.preset_id, s.id;

-- name: GetRunningPrebuiltWorkspaces :many
-- Unclaimed prebuilds whose latest build is a succeeded start (reference §12.4). current_preset_id
-- is the preset of the most recent start build that had one; ready needs every non-deleted
-- top-level agent of the latest build ready (no agents: not ready).
SELECT
  w.id AS workspace_id,
  w.name::text AS workspace_name,
  w.template_id,
  lb.template_version_id,
  cp.preset_id AS current_preset_id,
  COALESCE(agents.ready, false)::boolean AS ready,
  w.created_at
FROM workspaces w
CROSS JOIN LATERAL (
  SELECT wb.template_version_id, wb.job_id, wb.transition
  FROM workspace_builds wb
  WHERE wb.workspace_id = w.id
  ORDER BY wb.build_number DESC
  LIMIT 1
) lb
JOIN provisioner_jobs pj ON pj.id = lb.job_id
LEFT JOIN LATERAL (
  SELECT wb.template_version_preset_id AS preset_id
  FROM workspace_builds wb
  WHERE wb.workspace_id = w.id
    AND wb.transition = 'start'
    AND wb.template_version_preset_id IS NOT NULL
  ORDER BY wb.build_number DESC
  LIMIT 1
) cp ON true
LEFT JOIN LATERAL (
  SELECT bool_and(wa.lifecycle_state = 'ready') AS ready
  FROM workspace_resources wr
  JOIN workspace_agents wa ON wa.resource_id = wr.id
  WHERE wr.job_id = lb.job_id
    AND NOT wa.deleted
    AND wa.parent_id IS NULL
) agents ON true
WHERE w.owner_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
  AND NOT w.deleted
  AND lb.transition = 'start'
  AND pj.job_status = 'succeeded'
ORDER BY w.id;

-- name: CountInProgressPrebuilds :many
-- Latest builds that are prebuild builds (by initiator) with a pending or running job, on a
-- template's active version. canceling is not in progress; inactive versions are left out on
-- purpose (their pending jobs are counted by CountPendingNonActivePrebuilds). Starts from the
-- in-flight jobs (few) rather than from every workspace's latest build (many).
SELECT
  t.id AS template_id,
  wb.template_version_id,
  wb.transition,
  wb.template_version_preset_id AS preset_id,
  count(*)::integer AS count
FROM provisioner_jobs pj
JOIN workspace_builds wb ON wb.job_id = pj.id
JOIN workspaces w ON w.id = wb.workspace_id
JOIN templates t ON t.active_version_id = wb.template_version_id
WHERE pj.job_status IN ('pending', 'running')
  AND wb.initiator_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
  AND NOT w.deleted
  AND NOT EXISTS (
    SELECT 1
    FROM workspace_builds newer
    WHERE newer.workspace_id = wb.workspace_id AND newer.build_number > wb.build_number
  )
GROUP BY t.id, wb.template_version_id, wb.transition, wb.template_version_preset_id
ORDER BY t.id, wb.template_version_id, wb.transition, wb.template_version_preset_id;

-- name: CountPendingNonActivePrebuilds :many
-- Pending first builds of inactive presets, per preset: what CancelPending would cancel. The
-- criteria are exactly those of CancelPendingPrebuildJobs. Deliberate difference from the
-- reference: a deleted or deprecated template's presets are inactive even on its active version.
SELECT
  wb.template_version_preset_id::uuid AS preset_id,
  count(*)::integer AS count
FROM provisioner_jobs pj
JOIN workspace_builds wb ON wb.job_id = pj.id
JOIN workspaces w ON w.id = wb.workspace_id
JOIN templates t ON t.id = w.template_id
WHERE pj.started_at IS NULL
  AND pj.canceled_at IS NULL
  AND pj.completed_at IS NULL
  AND pj.worker_id IS NULL
  AND pj.job_status = 'pending'
  AND wb.initiator_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
  AND wb.build_number = 1
  AND wb.transition = 'start'
  AND wb.template_version_preset_id IS NOT NULL
  AND (wb.template_version_id <> t.active_version_id OR t.deleted OR t.deprecated <> '')
GROUP BY wb.template_version_preset_id
ORDER BY wb.template_version_preset_id;

-- name: GetPresetsBackoff :many
-- Presets to back off (reference §4.4): any of the desired_instances most recent latest builds of
-- the preset's unclaimed prebuilds failed within the lookback. num_failed counts every failed
-- latest build in the lookback; the caller waits num_failed × interval after last_build_at.
-- Only active versions of templates that are neither deleted nor deprecated (deprecated is our
-- addition: an inactive preset's deletes and cancels are never held back).
-- latest_builds is MATERIALIZED: computed once for all prebuilds. Joined through the
-- workspace_latest_builds view instead, PostgreSQL re-evaluated it per preset (quadratic).
WITH latest_builds AS MATERIALIZED (
  SELECT lb.template_version_id, lb.template_version_preset_id, lb.created_at, pj.job_status
  FROM workspaces w
  CROSS JOIN LATERAL (
    SELECT wb.template_version_id, wb.template_version_preset_id, wb.created_at, wb.job_id,
      wb.transition
    FROM workspace_builds wb
    WHERE wb.workspace_id = w.id
    ORDER BY wb.build_number DESC
    LIMIT 1
  ) lb
  JOIN provisioner_jobs pj ON pj.id = lb.job_id
  WHERE w.owner_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
    AND NOT w.deleted
    AND lb.transition = 'start'
),
filtered_builds AS (
  SELECT
    lb.template_version_id,
    lb.created_at,
    tvp.id AS preset_id,
    lb.job_status,
    tvp.desired_instances
  FROM latest_builds lb
  JOIN template_version_presets tvp ON tvp.id = lb.template_version_preset_id
  JOIN template_versions tv ON tv.id = lb.template_version_id
  JOIN templates t ON t.id = tv.template_id AND t.active_version_id = tv.id
  WHERE tvp.desired_instances IS NOT NULL
    AND NOT t.deleted
    AND t.deprecated = ''
),
time_sorted_builds AS (
  SELECT
    fb.template_version_id,
    fb.created_at,
    fb.preset_id,
    fb.job_status,
    fb.desired_instances,
    row_number() OVER (PARTITION BY fb.preset_id ORDER BY fb.created_at DESC) AS rn
  FROM filtered_builds fb
),
failed_count AS (
  SELECT fb.preset_id, count(*) AS num_failed
  FROM filtered_builds fb
  WHERE fb.job_status = 'failed' AND fb.created_at >= @lookback::timestamptz
  GROUP BY fb.preset_id
)
SELECT
  tsb.template_version_id,
  tsb.preset_id,
  COALESCE(fc.num_failed, 0)::integer AS num_failed,
  max(tsb.created_at)::timestamptz AS last_build_at
FROM time_sorted_builds tsb
LEFT JOIN failed_count fc ON fc.preset_id = tsb.preset_id
WHERE tsb.rn <= tsb.desired_instances
  AND tsb.job_status = 'failed'
  AND tsb.created_at >= @lookback::timestamptz
GROUP BY tsb.template_version_id, tsb.preset_id, fc.num_failed
ORDER BY tsb.preset_id;

-- name: GetPresetsAtFailureLimit :many
-- Presets whose hard_limit most recent latest builds (unclaimed prebuilds, active version) all
-- failed (reference §4.5). A hard_limit of 0 matches nothing, which disables the limit. Deleted
-- templates are not excluded, as in the reference: deletion is never blocked by the limit anyway.
-- latest_builds is MATERIALIZED for the same reason as in GetPresetsBackoff.
WITH latest_builds AS MATERIALIZED (
  SELECT lb.template_version_id, lb.template_version_preset_id, lb.created_at, pj.job_status
  FROM workspaces w
  CROSS JOIN LATERAL (
    SELECT wb.template_version_id, wb.template_version_preset_id, wb.created_at, wb.job_id,
      wb.transition
    FROM workspace_builds wb
    WHERE wb.workspace_id = w.id
    ORDER BY wb.build_number DESC
    LIMIT 1
  ) lb
  JOIN provisioner_jobs pj ON pj.id = lb.job_id
  WHERE w.owner_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
    AND NOT w.deleted
    AND lb.transition = 'start'
),
filtered_builds AS (
  SELECT
    lb.template_version_id,
    lb.created_at,
    tvp.id AS preset_id,
    lb.job_status
  FROM latest_builds lb
  JOIN template_version_presets tvp ON tvp.id = lb.template_version_preset_id
  JOIN template_versions tv ON tv.id = lb.template_version_id
  JOIN templates t ON t.id = tv.template_id AND t.active_version_id = tv.id
  WHERE tvp.desired_instances IS NOT NULL
),
time_sorted_builds AS (
  SELECT
    fb.template_version_id,
    fb.preset_id,
    fb.job_status,
    row_number() OVER (PARTITION BY fb.preset_id ORDER BY fb.created_at DESC) AS rn
  FROM filtered_builds fb
)
SELECT
  tsb.template_version_id,
  tsb.preset_id
FROM time_sorted_builds tsb
WHERE tsb.rn <= @hard_limit::integer
  AND tsb.job_status = 'failed'
GROUP BY tsb.template_version_id, tsb.preset_id
HAVING count(*) = @hard_limit::integer
ORDER BY tsb.preset_id;

-- The reconciler's snapshot (reference §2.2): five set-based reads taken in the one REPEATABLE
-- READ transaction that holds the reconciliation lock. Each reads every preset at once, so a cycle
-- costs the same number of round trips for 10 presets as for 30,000. src/snapshot/takeSnapshot.ts
-- runs them in an order where the preset list can be limited to presets with something to do.
-- Incremental cycles (issue #16) run the same five reads for a subset of presets: @only_presets
-- with the preset ids in @preset_ids. The driver sends every statement unnamed, so PostgreSQL plans
-- it with the parameters' values and folds the unused branch away: a full read plans as before,
-- a subset read starts from the presets' indexes.
-- 'c42fdf75-3097-471c-8c33-fb52454d81c0' is the prebuilds system user (src/prebuildsUser.ts), as
-- in the schema's views.

-- name: GetDatabaseClock :one
-- The database's clock, read inside the snapshot's transaction after its snapshot was taken (the
-- lock statement came first): every row the snapshot sees was stamped with a now() at or before
-- it. The cycle plans at this instant (one clock, issue #11), and a stored time later than it is
-- bad data (src/snapshot/decode.ts).
SELECT statement_timestamp()::timestamptz AS now;

-- name: GetTemplatePresetsWithPrebuilds :many
-- The presets that want prebuilds and that a cycle can act on or report: every preset of a
-- template's active version (unless the template is deleted; deprecated ones stay for the metrics),
-- and any other preset that still has a running prebuild or a pending first build to clean up.
-- @preset_ids are those: the current_preset_id of GetLatestPrebuildStartBuilds and the
-- preset_id of CountPendingNonActivePrebuilds, read earlier in the same REPEATABLE READ
-- transaction. Every preset left out is one the planner would skip (canSkip): inactive, nothing
-- running or expired, nothing pending, and no backoff (only active presets back off). At fleet L
-- that is 27,000 of 30,000 rows not read, decoded nor planned. Passing the ids costs no round trip;
-- an EXISTS per preset probed every historical build of every old preset (0.5 s at fleet L).
-- @every_preset reads them all anyway: `plan` lists every preset, those needing nothing included.
-- @only_presets reads just the presets in @preset_ids (an incremental cycle's scope), and of those
-- the same ones a full read keeps: active presets, and inactive ones in @keep_preset_ids (a running
-- or stopped prebuild or a stale first build, read earlier in the transaction). An old version
-- with nothing left is what the full read skips too (issue #16: a changed template's ten old
-- versions no longer cost a changed preset's cycle).
-- Unordered: sorting the text columns spilled to disk at 30,000 rows; `plan` sorts for display.
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
  -- What CancelPending may do with this template's stale jobs (issue #13, migration 0045).
  t.prebuild_cancel_policy::text AS cancel_policy,
  -- Bad data (active_version_id has no foreign key): the active version is none of the template's
  -- versions. Every preset of it is then inactive, and the reconciler logs the template (issue #8).
  EXISTS (
    SELECT 1 FROM template_versions av WHERE av.id = t.active_version_id AND av.template_id = t.id
  )::boolean AS active_version_exists,
  -- Worse bad data (issue #11): the active version is a version of ANOTHER template; its name and
  -- id, else ''. Nothing of that version is counted for this template.
  COALESCE((
    SELECT ot.name || ' (' || ot.id::text || ')'
    FROM template_versions av
    JOIN templates ot ON ot.id = av.template_id
    WHERE av.id = t.active_version_id AND av.template_id <> t.id
  ), '')::text AS active_version_of_template
FROM template_version_presets tvp
JOIN template_versions tv ON tv.id = tvp.template_version_id
JOIN templates t ON t.id = tv.template_id
JOIN organizations o ON o.id = t.organization_id
WHERE tvp.desired_instances IS NOT NULL
  AND (
    (
      NOT @only_presets::boolean
      AND ((tv.id = t.active_version_id AND NOT t.deleted) OR @every_preset::boolean)
    )
    OR (
      tvp.id = ANY(@preset_ids::uuid[])
      AND (
        NOT @only_presets::boolean
        OR (tv.id = t.active_version_id AND NOT t.deleted)
        OR tvp.id = ANY(@keep_preset_ids::uuid[])
      )
    )
  );

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
  AND (NOT @only_presets::boolean OR s.preset_id = ANY(@preset_ids::uuid[]))
ORDER BY s.preset_id, s.id;

-- name: GetLatestPrebuildStartBuilds :many
-- Every unclaimed prebuild whose latest build is a start, whatever its job's status: the running
-- prebuilds (succeeded; reference §12.4) and the evidence of backoff and hard limit (reference
-- §4.4, §4.5: the latest start builds of each preset, failed or not), read in one walk of the
-- latest builds. The planner's failure rules count them (src/plan/presetFailures.ts); two walks,
-- one per use, cost 2× at fleet L (issue #16).
-- build_preset_id is the latest build's own preset (what the failure rules group by);
-- current_preset_id is the preset of the most recent start build that had one: the latest build's
-- own when it has one, else the older one looked up (what counts a running prebuild). ready needs
-- every non-deleted top-level agent of the latest build ready (no agents: not ready); only a
-- succeeded build's agents are read. counts_toward_failures is false for a build created at or before its
-- preset's `prebuildsd reset` (prebuild_failure_resets, issue #15). "Latest" is "no newer build"
-- (an anti-join PostgreSQL runs as one hash join) rather than a per-workspace LIMIT 1 lookup:
-- 1.3 s → 0.3 s at fleet L. Unordered (the planner sorts what it picks from; ORDER BY spilled to disk at
-- fleet L, +80 ms). @only_presets: only workspaces with a build of a preset in @preset_ids (through
-- the builds' preset index; other presets' rows that come along are harmless).
SELECT
  w.id AS workspace_id,
  w.name::text AS workspace_name,
  w.template_id,
  lb.template_version_id,
  lb.template_version_preset_id AS build_preset_id,
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
  (pj.job_status = 'succeeded')::boolean AS succeeded,
  (pj.job_status = 'failed')::boolean AS failed,
  (
    CASE WHEN pj.job_status = 'succeeded' THEN COALESCE(
      (
        SELECT bool_and(wa.lifecycle_state = 'ready')
        FROM workspace_resources wr
        JOIN workspace_agents wa ON wa.resource_id = wr.id
        WHERE wr.job_id = lb.job_id
          AND NOT wa.deleted
          AND wa.parent_id IS NULL
      ),
      false
    ) ELSE false END
  )::boolean AS ready,
  (fr.reset_at IS NULL OR lb.created_at > fr.reset_at)::boolean AS counts_toward_failures,
  lb.created_at AS build_created_at,
  w.created_at
FROM workspaces w
JOIN workspace_builds lb ON lb.workspace_id = w.id
JOIN provisioner_jobs pj ON pj.id = lb.job_id
LEFT JOIN prebuild_failure_resets fr ON fr.preset_id = lb.template_version_preset_id
WHERE w.owner_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
  AND NOT w.deleted
  AND lb.transition = 'start'
  -- A build that did not succeed only matters to the failure rules, which count builds of active
  -- versions only: a failed prebuild of an old version (most of a long-lived fleet's failures,
  -- 57,000 of 60,000 at fleet L) is not sent (89,490 → 32,490 rows there, 0.7 → 0.4 s).
  AND (
    pj.job_status = 'succeeded'
    OR lb.template_version_id IN (SELECT t.active_version_id FROM templates t)
  )
  AND NOT EXISTS (
    SELECT 1
    FROM workspace_builds newer
    WHERE newer.workspace_id = lb.workspace_id AND newer.build_number > lb.build_number
  )
  AND (
    NOT @only_presets::boolean
    -- An array computed once (an InitPlan), not IN (subquery): inside this OR, IN stays a hashed
    -- filter that the planner expects to keep a third of all workspaces, so it scanned every
    -- workspace and hashed every build for "no newer build" (124 ms for 500 presets at fleet L);
    -- = ANY(array) probes the workspaces' primary key, then each one's builds (27 ms).
    OR w.id = ANY(ARRAY(
      SELECT pb.workspace_id
      FROM workspace_builds pb
      WHERE pb.template_version_preset_id = ANY(@preset_ids::uuid[])
    ))
  );

-- name: CountInProgressPrebuilds :many
-- Latest builds that are prebuild builds (by initiator) with a pending or running job, on a
-- template's active version. canceling is not in progress; inactive versions are left out on
-- purpose (their pending jobs are counted by CountPendingNonActivePrebuilds). Starts from the
-- in-flight jobs (few) rather than from every workspace's latest build (many). The template is the
-- workspace's own: a template whose active_version_id is a version of another template must not
-- count that template's builds a second time (issue #11).
SELECT
  t.id AS template_id,
  wb.template_version_id,
  wb.transition,
  wb.template_version_preset_id AS preset_id,
  count(*)::integer AS count
FROM provisioner_jobs pj
JOIN workspace_builds wb ON wb.job_id = pj.id
JOIN workspaces w ON w.id = wb.workspace_id
JOIN templates t ON t.id = w.template_id AND t.active_version_id = wb.template_version_id
WHERE pj.job_status IN ('pending', 'running')
  AND wb.initiator_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
  AND NOT w.deleted
  AND NOT EXISTS (
    SELECT 1
    FROM workspace_builds newer
    WHERE newer.workspace_id = wb.workspace_id AND newer.build_number > wb.build_number
  )
  AND (NOT @only_presets::boolean OR wb.template_version_preset_id = ANY(@preset_ids::uuid[]))
GROUP BY t.id, wb.template_version_id, wb.transition, wb.template_version_preset_id
ORDER BY t.id, wb.template_version_id, wb.transition, wb.template_version_preset_id;

-- name: CountPendingNonActivePrebuilds :many
-- Stale first builds of inactive presets, per preset: what CancelPending would act on (issue #13).
-- count: pending, never acquired (exactly the criteria of CancelPendingPrebuildJobs);
-- running_count: acquired, running and not asked to cancel (what cancel policy "running" asks to
-- cancel: ListRunningStaleFirstBuildJobs); canceled_count: canceled after a worker acquired them,
-- ended, the workspace still the prebuilds user's, not deleted and with no later build (each needs a
-- delete build through a provisioner: ListCanceledAcquiredFirstBuilds). Every policy's counts are
-- returned; the planner applies the template's policy. The candidate jobs come from two indexes:
-- job_status (pending and running jobs, few) and provisioner_jobs_canceled_acquired_idx (jobs
-- canceled after acquisition; migration 0045), never from the whole job history.
-- Deliberate difference from the reference: a deleted or deprecated template's presets are
-- inactive even on its active version.
WITH candidates AS (
  SELECT pj.id, pj.job_status, pj.started_at, pj.worker_id, pj.canceled_at, pj.completed_at
  FROM provisioner_jobs pj
  WHERE pj.job_status IN ('pending', 'running')
  UNION ALL
  SELECT pj.id, pj.job_status, pj.started_at, pj.worker_id, pj.canceled_at, pj.completed_at
  FROM provisioner_jobs pj
  WHERE pj.canceled_at IS NOT NULL
    AND pj.started_at IS NOT NULL
    AND pj.completed_at IS NOT NULL
    AND pj.job_status = 'canceled'
),
stale AS (
  SELECT
    wb.template_version_preset_id AS preset_id,
    CASE
      WHEN c.job_status = 'pending'
        AND c.started_at IS NULL
        AND c.worker_id IS NULL
        AND c.canceled_at IS NULL
        AND c.completed_at IS NULL
        THEN 'pending'
      WHEN c.job_status = 'running' AND c.canceled_at IS NULL THEN 'running'
      WHEN c.job_status = 'canceled'
        AND w.owner_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
        AND NOT w.deleted
        AND NOT EXISTS (
          SELECT 1
          FROM workspace_builds newer
          WHERE newer.workspace_id = wb.workspace_id AND newer.build_number > wb.build_number
        )
        THEN 'canceled'
    END AS kind
  FROM candidates c
  JOIN workspace_builds wb ON wb.job_id = c.id
  JOIN workspaces w ON w.id = wb.workspace_id
  JOIN templates t ON t.id = w.template_id
  WHERE wb.initiator_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
    AND wb.build_number = 1
    AND wb.transition = 'start'
    AND wb.template_version_preset_id IS NOT NULL
    AND (wb.template_version_id <> t.active_version_id OR t.deleted OR t.deprecated <> '')
    AND (NOT @only_presets::boolean OR wb.template_version_preset_id = ANY(@preset_ids::uuid[]))
)
SELECT
  s.preset_id::uuid AS preset_id,
  (count(*) FILTER (WHERE s.kind = 'pending'))::integer AS count,
  (count(*) FILTER (WHERE s.kind = 'running'))::integer AS running_count,
  (count(*) FILTER (WHERE s.kind = 'canceled'))::integer AS canceled_count
FROM stale s
WHERE s.kind IS NOT NULL
GROUP BY s.preset_id
ORDER BY s.preset_id;

-- name: CountInflightPrebuildJobs :one
-- Prebuild jobs in flight (issue #13's cap, PREBUILDS_MAX_INFLIGHT_JOBS): pending, running or
-- canceling jobs the prebuilds user initiated, of any preset. Global, so every cycle reads it,
-- incremental ones included; from idx_provisioner_jobs_status (in-flight jobs only, never history).
SELECT count(*)::integer AS inflight
FROM provisioner_jobs pj
WHERE pj.job_status IN ('pending', 'running', 'canceling')
  AND pj.initiator_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid;

-- Not part of a cycle's five reads: `plan` and the status page read it after the snapshot, for the
-- presets they plan to create, to say which creates validation will refuse (issue #14).
-- name: ListPresetsMissingRequiredParameters :many
-- A required parameter of the preset's version, without a default, that the preset does not set:
-- the rule CreatePrebuilds applies at write time (queries/prebuilds.sql, reference §4.6).
SELECT
  tvp.id AS preset_id,
  array_agg(tvpar.name ORDER BY tvpar.name)::text[] AS missing_parameters
FROM template_version_presets tvp
JOIN template_version_parameters tvpar ON tvpar.template_version_id = tvp.template_version_id
WHERE tvp.id = ANY(@preset_ids::uuid[])
  AND tvpar.required
  AND tvpar.default_value = ''
  AND NOT EXISTS (
    SELECT 1
    FROM template_version_preset_parameters pp
    WHERE pp.template_version_preset_id = tvp.id AND pp.name = tvpar.name
  )
GROUP BY tvp.id
ORDER BY tvp.id;

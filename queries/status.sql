-- Reads behind the daemon's status page (`GET /`, issue #14). They run at most once per cache
-- period however often the page is fetched (src/http/cachedValue.ts).

-- name: ListRecentReconciliationRuns :many
-- The newest cycles recorded by any replica (the table keeps a bounded number of rows); with
-- @max_runs 1, the last cycle (`status`, reconciler/runs.ts).
SELECT
  id, started_at, finished_at, outcome, replica, presets_total, presets_reconciled,
  actions_succeeded, actions_failed, actions_skipped, prebuilds_created, prebuilds_deleted,
  jobs_canceled, statements, error, kind, creates_held_back, inflight_jobs, inflight_cap
FROM prebuild_reconciliation_runs
ORDER BY finished_at DESC, id DESC
LIMIT @max_runs::integer;

-- name: CountProvisionerQueue :one
-- Queue depth: jobs waiting for a provisioner and jobs being built, in total and of them those the
-- prebuilds system user initiated. One scan of the unfinished jobs, at most once per cache period.
SELECT
  (count(*) FILTER (WHERE pj.job_status = 'pending'))::int AS pending,
  (count(*) FILTER (
    WHERE pj.job_status = 'pending'
      AND pj.initiator_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
  ))::int AS pending_prebuilds,
  (count(*) FILTER (WHERE pj.job_status = 'running'))::int AS running,
  (count(*) FILTER (
    WHERE pj.job_status = 'running'
      AND pj.initiator_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
  ))::int AS running_prebuilds
FROM provisioner_jobs pj
WHERE pj.completed_at IS NULL AND pj.job_status IN ('pending', 'running');

-- name: CountPresetsInFleet :one
-- The presets with prebuilds configured (desired_instances set), in every version of every
-- template: what `prebuildsd plan` lists, and what `status` and `reconcile --once` call "the
-- fleet" beside the presets a cycle visited. Read by those commands, never by a cycle.
SELECT count(*)::integer AS presets
FROM template_version_presets tvp
JOIN template_versions tv ON tv.id = tvp.template_version_id
JOIN templates t ON t.id = tv.template_id
JOIN organizations o ON o.id = t.organization_id
WHERE tvp.desired_instances IS NOT NULL;

-- A job's life after it is queued (issue #12): cancelling it, the worker's heartbeat that also
-- carries the cancel check, and recovering jobs whose worker died. Every timestamp is the
-- database clock. The cancel signal itself is the trigger of migration 0041.

-- name: CancelProvisionerJob :one
-- cancelJob's one statement: exactly one of five results, race-free against acquire and
-- complete. `target` locks the row FOR UPDATE; in READ COMMITTED a lock that had to wait returns
-- the row as the concurrent acquirer or completer committed it, so the decision is made on the
-- newest version. The UPDATE joins that locked row and decides only from it (not from its own
-- scan, whose snapshot may be older):
--   pending (never acquired) -> canceled_at = completed_at = now: canceled_while_pending
--   running (acquired)       -> canceled_at = now, status canceling; the worker finishes it and
--                               the trigger tells it on commit: cancel_requested_while_running
--   canceled or canceling    -> nothing written: already_canceled (so no second notification)
--   succeeded or failed      -> nothing written: already_completed
--   no such job              -> not_found
-- Call it outside an explicit transaction or in READ COMMITTED; REPEATABLE READ would turn the
-- lost race into a serialization error.
WITH target AS (
  SELECT pj.id, pj.job_status, pj.started_at
  FROM provisioner_jobs pj
  WHERE pj.id = @job_id::uuid
  FOR UPDATE
),
canceled AS (
  UPDATE provisioner_jobs pj
  SET canceled_at = now(),
      completed_at = CASE WHEN target.started_at IS NULL THEN now() END,
      updated_at = now()
  FROM target
  WHERE pj.id = target.id
    AND target.job_status IN ('pending'::provisioner_job_status, 'running'::provisioner_job_status)
  RETURNING target.job_status AS previous_status
)
SELECT (CASE
  WHEN NOT EXISTS (SELECT 1 FROM target) THEN 'not_found'
  WHEN EXISTS (
    SELECT 1 FROM canceled WHERE previous_status = 'pending'::provisioner_job_status
  ) THEN 'canceled_while_pending'
  WHEN EXISTS (SELECT 1 FROM canceled) THEN 'cancel_requested_while_running'
  WHEN EXISTS (
    SELECT 1 FROM target
    WHERE job_status IN ('canceled'::provisioner_job_status, 'canceling'::provisioner_job_status)
  ) THEN 'already_canceled'
  ELSE 'already_completed'
END)::text AS result;

-- name: HeartbeatProvisionerJobs :many
-- One worker heartbeat in one round trip: records the daemon's last_seen_at (registering it on
-- the first beat) and the updated_at of every job it still holds, and returns those jobs with
-- whether each was canceled — the fallback for a cancel notification the worker missed. A held
-- job missing from the result is no longer the worker's (completed by someone else, e.g. hung-job
-- recovery): the worker stops it and does not complete it.
WITH daemon AS (
  INSERT INTO provisioner_daemons (id, name, organization_id, tags, created_at, last_seen_at)
  VALUES (@worker_id::uuid, @name::text, @organization_id::uuid, @tags::jsonb, now(), now())
  ON CONFLICT (id) DO UPDATE
  SET name = excluded.name,
      tags = excluded.tags,
      last_seen_at = excluded.last_seen_at
)
UPDATE provisioner_jobs
SET updated_at = now()
WHERE id = ANY(@job_ids::uuid[])
  AND worker_id = @worker_id::uuid
  AND completed_at IS NULL
RETURNING id, (canceled_at IS NOT NULL)::boolean AS canceled;

-- name: RecoverHungProvisionerJobs :many
-- One statement per cycle: a job a worker holds but has not heartbeaten (updated_at) for the hang
-- timeout is finished by the database. A running one fails with @hung_error; a canceling one
-- completes as canceled, with @hung_cancel_detail saying so. Each comes back with its workspace
-- and template (when it is a workspace build) so it can be logged by name. Reads
-- idx_provisioner_jobs_status, so the cost follows the number of running jobs.
WITH hung AS (
  UPDATE provisioner_jobs pj
  SET completed_at = now(),
      updated_at = now(),
      error = CASE WHEN pj.canceled_at IS NULL THEN @hung_error::text END,
      cancel_detail = CASE WHEN pj.canceled_at IS NOT NULL THEN @hung_cancel_detail::text END
  WHERE pj.job_status IN ('running'::provisioner_job_status, 'canceling'::provisioner_job_status)
    AND pj.updated_at < now() - make_interval(secs => @hang_timeout_seconds::float8)
  RETURNING pj.id, pj.job_status, pj.worker_id
)
SELECT hung.id AS job_id,
  hung.job_status,
  hung.worker_id,
  wb.workspace_id,
  w.name AS workspace_name,
  t.name AS template_name
FROM hung
LEFT JOIN workspace_builds wb ON wb.job_id = hung.id
LEFT JOIN workspaces w ON w.id = wb.workspace_id
LEFT JOIN templates t ON t.id = w.template_id
ORDER BY hung.id;

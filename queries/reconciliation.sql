-- What each reconciliation cycle did, for `prebuildsd status` (migration 0002).

-- name: InsertReconciliationRun :exec
-- Records one cycle (kind: 'full' or 'incremental', NULL when it read nothing: issue #16; the
-- creates the in-flight cap held back, with the in-flight count and cap planned with, NULL when
-- uncapped) and prunes all but the newest keep_runs rows in the same statement.
WITH inserted AS (
  INSERT INTO prebuild_reconciliation_runs (
    started_at, finished_at, outcome, replica, presets_total, presets_reconciled,
    actions_succeeded, actions_failed, actions_skipped, prebuilds_created, prebuilds_deleted,
    jobs_canceled, statements, error, kind, creates_held_back, inflight_jobs, inflight_cap
  )
  VALUES (
    @started_at::timestamptz, @finished_at::timestamptz, @outcome::text, @replica::text,
    @presets_total::integer, @presets_reconciled::integer, @actions_succeeded::integer,
    @actions_failed::integer, @actions_skipped::integer, @prebuilds_created::integer,
    @prebuilds_deleted::integer, @jobs_canceled::integer, @statements::integer,
    sqlc.narg(error)::text, sqlc.narg(kind)::text, @creates_held_back::integer,
    sqlc.narg(inflight_jobs)::integer, sqlc.narg(inflight_cap)::integer
  )
  RETURNING id
)
DELETE FROM prebuild_reconciliation_runs r
WHERE r.id <= (SELECT i.id FROM inserted i) - @keep_runs::integer;


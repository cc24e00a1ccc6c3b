-- Up Migration
-- Fair acquisition across templates (issue #13). Human-initiated jobs still go first; among the
-- prebuilds user's jobs, acquisition rotates across templates instead of draining one template's
-- burst first, FIFO within a template. Each prebuild job gets a rank within its template's queue
-- (fair_rank, fair_key = the template) when its build is written; the queue is read in (human
-- first, fair_rank, created_at, id) order, still straight from one index (no sort, stops at the
-- first job it can lock). A template's jobs are ranked from where the queue is now: a new job's
-- rank is the larger of the queue's front (the smallest rank still pending in the organization)
-- and one past its template's last pending rank. 1,000 jobs of template A (ranks 1..1000) then 10
-- of template B (ranks 1..10, or from the front if A has been partly served) interleave A, B, A,
-- B…: B's first job is the second acquired, not the 1,001st. Start-time fair queuing, one slot per
-- job. Jobs without a build (templates version imports, dry runs) and jobs written before this
-- migration that nothing ranked keep fair_rank NULL and go after the ranked ones of their kind.
ALTER TABLE provisioner_jobs
  ADD COLUMN fair_key uuid,
  ADD COLUMN fair_rank bigint;

-- Same name and predicate as migrations 0041/0043; the rank now comes before created_at.
DROP INDEX provisioner_jobs_pending_idx;
CREATE INDEX provisioner_jobs_pending_idx ON provisioner_jobs (
  organization_id,
  (initiator_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid),
  fair_rank,
  created_at,
  id
)
WHERE started_at IS NULL AND canceled_at IS NULL AND completed_at IS NULL
  AND coalesce(error, '') = '';

-- A template's last pending rank (the ranking trigger), without reading the whole queue.
CREATE INDEX provisioner_jobs_fair_key_idx ON provisioner_jobs (fair_key, fair_rank)
WHERE fair_key IS NOT NULL AND started_at IS NULL AND canceled_at IS NULL
  AND completed_at IS NULL AND coalesce(error, '') = '';

-- Ranks the still-pending, unranked prebuild jobs of the builds a statement inserted, per template,
-- in (created_at, id) order. Statement-level: CreatePrebuilds and DeletePrebuilds write many
-- builds in one statement, and this is one UPDATE for all of them. Two writers at once may hand out
-- the same ranks to two batches: ties fall back to created_at, so fairness bends, nothing breaks.
CREATE FUNCTION prebuild_rank_jobs() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  WITH fresh AS (
    SELECT pj.id, pj.organization_id, pj.created_at, w.template_id AS fair_key
    FROM new_rows n
    JOIN provisioner_jobs pj ON pj.id = n.job_id
    JOIN workspaces w ON w.id = n.workspace_id
    WHERE n.initiator_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
      AND pj.initiator_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
      AND pj.fair_rank IS NULL
      AND pj.started_at IS NULL AND pj.canceled_at IS NULL AND pj.completed_at IS NULL
      AND coalesce(pj.error, '') = ''
  ),
  queues AS (
    SELECT DISTINCT f.fair_key, f.organization_id FROM fresh f
  ),
  base AS (
    SELECT
      q.fair_key,
      q.organization_id,
      GREATEST(
        coalesce((
          SELECT p.fair_rank
          FROM provisioner_jobs p
          WHERE p.organization_id = q.organization_id
            AND (p.initiator_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid)
            AND p.fair_rank IS NOT NULL
            AND p.started_at IS NULL AND p.canceled_at IS NULL AND p.completed_at IS NULL
            AND coalesce(p.error, '') = ''
          ORDER BY p.fair_rank
          LIMIT 1
        ), 1),
        coalesce((
          SELECT p.fair_rank
          FROM provisioner_jobs p
          WHERE p.fair_key = q.fair_key
            AND p.fair_rank IS NOT NULL
            AND p.started_at IS NULL AND p.canceled_at IS NULL AND p.completed_at IS NULL
            AND coalesce(p.error, '') = ''
          ORDER BY p.fair_rank DESC
          LIMIT 1
        ), 0) + 1
      ) AS first_rank
    FROM queues q
  ),
  ranked AS (
    SELECT
      f.id,
      f.fair_key,
      b.first_rank + row_number() OVER (PARTITION BY f.fair_key ORDER BY f.created_at, f.id) - 1
        AS fair_rank
    FROM fresh f
    JOIN base b ON b.fair_key = f.fair_key AND b.organization_id = f.organization_id
  )
  UPDATE provisioner_jobs pj
  SET fair_key = r.fair_key, fair_rank = r.fair_rank
  FROM ranked r
  WHERE pj.id = r.id;
  RETURN NULL;
END
$$;
-- SECURITY DEFINER: every writer (the daemon's role, the platform's) ranks without a grant.
DO $$
BEGIN
  EXECUTE format('ALTER FUNCTION prebuild_rank_jobs() SET search_path = %I, pg_temp', current_schema());
END
$$;
REVOKE ALL ON FUNCTION prebuild_rank_jobs() FROM PUBLIC;

CREATE TRIGGER prebuild_rank_jobs AFTER INSERT ON workspace_builds
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION prebuild_rank_jobs();

-- The prebuild jobs already queued: ranked per template in their FIFO order.
WITH ranked AS (
  SELECT
    pj.id,
    w.template_id,
    row_number() OVER (PARTITION BY w.template_id ORDER BY pj.created_at, pj.id) AS fair_rank
  FROM provisioner_jobs pj
  JOIN workspace_builds wb ON wb.job_id = pj.id
  JOIN workspaces w ON w.id = wb.workspace_id
  WHERE pj.initiator_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
    AND pj.started_at IS NULL AND pj.canceled_at IS NULL AND pj.completed_at IS NULL
    AND coalesce(pj.error, '') = ''
)
UPDATE provisioner_jobs pj
SET fair_key = r.template_id, fair_rank = r.fair_rank
FROM ranked r
WHERE pj.id = r.id;

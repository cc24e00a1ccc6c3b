-- The job queue's side of the database: what a provisioner runs to take, finish and report jobs,
-- and what the platform runs to hand a ready prebuild to a user (reference §1.2, §7).
-- 'c42fdf75-3097-471c-8c33-fb52454d81c0' is the prebuilds system user (src/prebuildsUser.ts).

-- name: AcquireProvisionerJob :one
-- Hands the next job to a provisioner and marks it started by that worker (database clock).
-- Human-initiated jobs go before the reconciler's (false sorts first), oldest first; the
-- reconciler's rotate across templates by fair_rank (each job's place in its template's queue,
-- migration 0046: issue #13's fair acquisition), FIFO within a template. Only a
-- truly pending job is handed out: never one that was canceled or completed while pending, and
-- never one whose error alone makes it failed (unlike the reference, issue #12). The inner WHERE
-- matches provisioner_jobs_pending_idx's predicate, so the queue is read from that partial index.
-- SKIP LOCKED lets concurrent acquirers (and cancelJob, which locks the row) pass each other; a
-- row another acquirer just started fails the re-check PostgreSQL does on the locked row version.
-- Tags match by the reference's rules (provisioner_tagset_contains, migration 0041): an untagged
-- job goes only to an untagged provisioner, any other job to a provisioner whose tags contain all
-- of the job's. transition is '' for jobs that are not workspace builds.
UPDATE provisioner_jobs
SET started_at = now(),
    updated_at = now(),
    worker_id = @worker_id::uuid
WHERE id = (
  SELECT pj.id
  FROM provisioner_jobs pj
  WHERE pj.started_at IS NULL
    AND pj.canceled_at IS NULL
    AND pj.completed_at IS NULL
    AND coalesce(pj.error, '') = ''
    AND pj.organization_id = @organization_id::uuid
    AND pj.type = ANY(@types::provisioner_job_type[])
    AND provisioner_tagset_contains(@provisioner_tags::jsonb, pj.tags)
  ORDER BY pj.initiator_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid, pj.fair_rank,
    pj.created_at, pj.id
  FOR UPDATE SKIP LOCKED
  LIMIT 1
)
RETURNING id, created_at, started_at, organization_id, initiator_id, type, input, tags,
  coalesce((
    SELECT wb.transition::text FROM workspace_builds wb WHERE wb.job_id = provisioner_jobs.id
  ), '')::text AS transition;

-- name: GetWorkspaceBuildByJobID :one
-- What a provisioner needs to run a workspace-build job.
SELECT wb.id, wb.workspace_id, wb.template_version_id, wb.build_number, wb.transition,
       wb.template_version_preset_id, wb.initiator_id
FROM workspace_builds wb
WHERE wb.job_id = @job_id::uuid;

-- name: InsertWorkspaceResourceWithAgents :exec
-- A finished start build's resource and its top-level agents, in one statement: agent i gets
-- agent_names[i] and lifecycle_states[i].
WITH resource AS (
  INSERT INTO workspace_resources (job_id, name)
  VALUES (@job_id::uuid, @resource_name::text)
  RETURNING id
)
INSERT INTO workspace_agents (resource_id, name, lifecycle_state)
SELECT resource.id, agent.name, agent.lifecycle_state
FROM resource
CROSS JOIN unnest(
  @agent_names::text[], @lifecycle_states::workspace_agent_lifecycle_state[]
) AS agent (name, lifecycle_state);

-- name: CompleteProvisionerJob :one
-- Finishes a job (database clock) as succeeded (error NULL) or failed (error set). Only the worker
-- that holds the job can finish it, and only once; no row back means it was not ours or was
-- already finished. A job canceled while it ran always finishes as canceled, never succeeded or
-- failed: its error stays empty and the handler's error (or the force-abort note) goes to
-- cancel_detail. A job whose error was already set stays failed (issue #12).
UPDATE provisioner_jobs
SET completed_at = now(),
    updated_at = now(),
    error = CASE
      WHEN coalesce(error, '') <> '' THEN error
      WHEN canceled_at IS NOT NULL THEN NULL
      ELSE sqlc.narg(error)::text
    END,
    cancel_detail = CASE
      WHEN canceled_at IS NOT NULL AND coalesce(error, '') = '' THEN sqlc.narg(error)::text
    END
WHERE id = @job_id::uuid
  AND worker_id = @worker_id::uuid
  AND started_at IS NOT NULL
  AND completed_at IS NULL
RETURNING id, job_status;

-- name: MarkWorkspaceDeletedByJob :exec
-- A delete build that succeeded removes its workspace, unless a later build exists (then the
-- delete is stale and the later build decides). updated_at is the database clock (one clock): the
-- handler that calls this runs on the platform's host, whose clock is not ours to trust.
UPDATE workspaces w
SET deleted = true,
    updated_at = now()
FROM workspace_builds wb
WHERE wb.job_id = @job_id::uuid
  AND wb.transition = 'delete'::workspace_transition
  AND w.id = wb.workspace_id
  AND NOT w.deleted
  AND NOT EXISTS (
    SELECT 1
    FROM workspace_builds later
    WHERE later.workspace_id = wb.workspace_id AND later.build_number > wb.build_number
  );

-- name: UpsertProvisionerDaemon :exec
-- Registers a provisioner or records its heartbeat.
INSERT INTO provisioner_daemons (id, name, organization_id, tags, created_at, last_seen_at)
VALUES (
  @id::uuid, @name::text, @organization_id::uuid, @tags::jsonb, @now::timestamptz,
  @now::timestamptz
)
ON CONFLICT (id) DO UPDATE
SET name = excluded.name,
    tags = excluded.tags,
    last_seen_at = excluded.last_seen_at;

-- name: ClaimPrebuiltWorkspace :one
-- Gives one ready prebuild of the preset to a user (reference §7), or no row: the statement is the
-- function prebuild_claim_workspace (migration 0051), whose plan PostgreSQL keeps for the session
-- instead of planning each claim (issue #16); its comment there says what is claimed and how.
-- now NULL means the database clock (claimPrebuild); a platform may pass its own.
-- @allow_previous_version: also a prebuild of the version the template's last promotion replaced
-- (@preset_id is then that version's preset; a surge rollout's claim fallback, issue #15).
SELECT claimed.id::uuid AS id, claimed.name::text AS name
FROM prebuild_claim_workspace(
  @new_user_id::uuid,
  @new_name::text,
  sqlc.narg(now)::timestamptz,
  sqlc.narg(autostart_schedule)::text,
  sqlc.narg(next_start_at)::timestamptz,
  sqlc.narg(ttl)::bigint,
  @allow_previous_version::boolean,
  @preset_id::uuid
) AS claimed;

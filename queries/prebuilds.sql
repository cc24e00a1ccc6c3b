-- The reconciler's writes (issue #11: guarantees at write time, whatever the advisory lock does).
-- Create and Delete run in a READ COMMITTED transaction that first takes the preset's write lock
-- (LockPresetForWrite), then sends ONE statement that re-counts the preset under that lock and
-- writes: the statement starts after the lock is granted, so it sees every write of a writer that
-- held the lock before it. Each guard sits in the WHERE clause of the statement that writes, so
-- PostgreSQL re-checks it on the row version it locks (READ COMMITTED re-evaluates a concurrently
-- updated row); the unique (workspace_id, build_number) is the final arbiter of a claim race.
-- Every timestamp is the database's now() (one clock); every build records its preset.
-- 'c42fdf75-3097-471c-8c33-fb52454d81c0' is the prebuilds system user (src/prebuildsUser.ts).

-- name: LockPresetForWrite :one
-- The per-preset write lock, held until the caller's transaction ends: two writers of one preset
-- (two replicas after a lock loss, a killed replica's orphaned statement) take turns, and the
-- second re-counts after the first committed. FOR NO KEY UPDATE, not FOR UPDATE: builds that
-- reference the preset (their foreign-key check takes FOR KEY SHARE) are not held up. No row: the
-- preset is gone.
SELECT tvp.id
FROM template_version_presets tvp
WHERE tvp.id = @preset_id::uuid
FOR NO KEY UPDATE;

-- name: CreatePrebuilds :many
-- Create, whole, in ONE statement, after LockPresetForWrite in the same transaction: at most
-- @count prebuilds of one preset — workspace, provisioner job (stage CREATE), build number 1 with
-- the preset, and the preset's parameters as build parameters — or nothing, with the reason.
-- Never more than what is still missing: @desired (the count the planner used) minus the preset's
-- prebuilds present now, re-counted under the lock — unclaimed, not deleted, latest build a start
-- of the preset that is pending, running or succeeded (expired ones not yet deleted included: the
-- Delete planned before this Create normally removed them; if it could not, fewer is the safe
-- side). Two writers therefore never overfill a pool, whatever happened to the advisory lock.
-- The guards run in the statement that writes: the template row is locked FOR SHARE (held until
-- this statement commits, so a promotion cannot slip in before the prebuilds are in; the reference
-- pairs the snapshot's preset with whatever version is active now), the preset must be on the
-- template's active version (template neither deleted nor deprecated), and its version's required
-- parameters without a default must all be set by the preset (a build without them would fail
-- validation every time: reference §4.6). A preset that misses one is marked validation_failed in
-- the same statement (first_detection: this statement changed the status).
-- A last_invalidated_at later than now() (stamped by a clock ahead of the database's, issue #11)
-- is read by the snapshot as now; the create that replaces the invalidated prebuilds sets it to
-- its own now(), so what it creates is not expired again next cycle (one recycle, then stable).
-- Rows: no row = the preset (or its version or template) is gone; one row with a NULL
-- workspace_id = nothing created, outcome says why ('preset_inactive', 'validation_failed',
-- 'pool_full'); otherwise one row per prebuild created (outcome 'created'). present is the
-- re-counted number of the preset's prebuilds before this statement. Ids come from the caller so
-- the job input can name its build. Foreign keys are checked at the end of the statement.
-- fk_plans: each foreign-key check is a cached plan in the session, planned once and kept. Planned
-- while workspaces, builds and jobs were nearly empty (a fresh install's first cycle, a pooled
-- connection's first create), it is a sequential scan, reused while those tables grow: creating
-- 10,000 prebuilds from empty read 200 million rows that way (10 s instead of 2 s). Planning the
-- checks afresh, for this statement only (set_config local = this statement's transaction), costs
-- microseconds per row and always uses the primary keys once the tables have grown.
WITH fk_plans AS MATERIALIZED (
  SELECT set_config('plan_cache_mode', 'force_custom_plan', true) AS plan_cache_mode
),
preset AS MATERIALIZED (
  SELECT
    tvp.id AS preset_id,
    t.id AS template_id,
    t.organization_id,
    t.active_version_id,
    tvp.template_version_id,
    (tvp.template_version_id = t.active_version_id AND NOT t.deleted AND t.deprecated = '')
      AS is_active
  FROM template_version_presets tvp
  JOIN template_versions tv ON tv.id = tvp.template_version_id
  JOIN templates t ON t.id = tv.template_id
  CROSS JOIN fk_plans
  WHERE tvp.id = @preset_id::uuid
  FOR SHARE OF t
),
present AS MATERIALIZED (
  SELECT count(*)::integer AS present
  FROM workspace_builds wb
  JOIN workspaces w ON w.id = wb.workspace_id
  JOIN provisioner_jobs pj ON pj.id = wb.job_id
  WHERE wb.template_version_preset_id = @preset_id::uuid
    AND wb.transition = 'start'
    AND pj.job_status IN ('pending', 'running', 'succeeded')
    AND w.owner_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
    AND NOT w.deleted
    AND NOT EXISTS (
      SELECT 1
      FROM workspace_builds newer
      WHERE newer.workspace_id = wb.workspace_id AND newer.build_number > wb.build_number
    )
),
verdict AS MATERIALIZED (
  SELECT
    p.template_id,
    p.organization_id,
    p.active_version_id,
    p.template_version_id,
    m.missing_parameters,
    c.present,
    LEAST(@count::integer, GREATEST((@desired::integer) - c.present, 0)) AS allowed,
    CASE
      WHEN NOT p.is_active THEN 'preset_inactive'
      WHEN cardinality(m.missing_parameters) > 0 THEN 'validation_failed'
      WHEN c.present >= @desired::integer THEN 'pool_full'
      ELSE 'created'
    END AS outcome
  FROM preset p
  CROSS JOIN present c
  CROSS JOIN LATERAL (
    SELECT ARRAY(
      SELECT tvpar.name
      FROM template_version_parameters tvpar
      WHERE tvpar.template_version_id = p.template_version_id
        AND tvpar.required
        AND tvpar.default_value = ''
        AND NOT EXISTS (
          SELECT 1
          FROM template_version_preset_parameters pp
          WHERE pp.template_version_preset_id = p.preset_id AND pp.name = tvpar.name
        )
      ORDER BY tvpar.name
    ) AS missing_parameters
  ) m
),
marked_validation_failed AS (
  UPDATE template_version_presets tvp
  SET prebuild_status = 'validation_failed'
  FROM verdict v
  WHERE tvp.id = @preset_id::uuid
    AND v.outcome = 'validation_failed'
    AND tvp.prebuild_status <> 'validation_failed'
  RETURNING tvp.id
),
resolved_future_invalidation AS (
  UPDATE template_version_presets tvp
  SET last_invalidated_at = now()
  FROM verdict v
  WHERE tvp.id = @preset_id::uuid
    AND v.outcome = 'created'
    AND tvp.last_invalidated_at > now()
  RETURNING tvp.id
),
input AS MATERIALIZED (
  SELECT
    i.workspace_id, i.build_id, i.job_id, i.name, v.organization_id, v.template_id,
    v.template_version_id
  FROM verdict v
  CROSS JOIN unnest(
    @workspace_ids::uuid[], @build_ids::uuid[], @job_ids::uuid[], @names::text[]
  ) WITH ORDINALITY AS i (workspace_id, build_id, job_id, name, n)
  WHERE v.outcome = 'created'
    AND i.n <= v.allowed
),
inserted_workspaces AS (
  INSERT INTO workspaces (
    id, created_at, updated_at, owner_id, organization_id, template_id, name, last_used_at
  )
  SELECT
    i.workspace_id, now(), now(),
    'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid, i.organization_id, i.template_id,
    i.name, now()
  FROM input i
  RETURNING id
),
inserted_jobs AS (
  INSERT INTO provisioner_jobs (
    id, created_at, updated_at, organization_id, initiator_id, type, input, tags
  )
  SELECT
    i.job_id, now(), now(), i.organization_id,
    'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid, 'workspace_build',
    jsonb_build_object(
      'workspace_build_id', i.build_id,
      'prebuilt_workspace_build_stage', 'CREATE'
    ),
    -- The version's provisioner tags, PREBUILDS_PROVISIONER_TAGS over them (issue #12).
    coalesce(
      (SELECT tv.provisioner_tags FROM template_versions tv WHERE tv.id = i.template_version_id),
      '{}'::jsonb
    ) || @tags::jsonb
  FROM input i
  RETURNING id
),
inserted_builds AS (
  INSERT INTO workspace_builds (
    id, created_at, updated_at, workspace_id, template_version_id, build_number, transition,
    initiator_id, job_id, template_version_preset_id, reason
  )
  SELECT
    i.build_id, now(), now(), i.workspace_id,
    i.template_version_id, 1, 'start', 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid,
    i.job_id, @preset_id::uuid, 'initiator'
  FROM input i
  RETURNING id
),
inserted_parameters AS (
  INSERT INTO workspace_build_parameters (workspace_build_id, name, value)
  SELECT i.build_id, pp.name, pp.value
  FROM input i
  JOIN template_version_preset_parameters pp ON pp.template_version_preset_id = @preset_id::uuid
  RETURNING workspace_build_id
)
SELECT
  v.outcome::text AS outcome,
  v.organization_id,
  v.active_version_id,
  v.missing_parameters::text[] AS missing_parameters,
  (EXISTS (SELECT 1 FROM marked_validation_failed))::boolean AS first_detection,
  v.present::integer AS present,
  i.workspace_id,
  i.job_id
FROM verdict v
LEFT JOIN input i ON true;

-- name: DeletePrebuilds :many
-- Delete, for one preset, in ONE set-based statement after LockPresetForWrite in the same
-- transaction: a `delete` build (next build number, the latest build's version and state, the
-- preset recorded) and its job for each listed workspace that is still an unclaimed prebuild of
-- the preset's pool and for which the reason the planner chose it still holds:
--   @because 'expired'    it is expired now (created before last_invalidated_at, read as now() if
--                         later, or older than invalidate_after_secs), as src/plan/expiry.ts says;
--   @because 'inactive'   the preset is still inactive (not its template's active version, or the
--                         template deleted or deprecated);
--   @because 'extraneous' the preset is still active and still above @desired: at most (its
--                         non-expired running prebuilds now − @desired) are deleted, oldest first.
--                         Counted under the preset lock, so two writers never both delete the last
--                         extra one.
--   @because 'stopped'    (PREBUILDS_REPLACE_STOPPED, issue #15) its latest build is still a stop
--                         that succeeded or failed: that is the reason, checked on the locked row.
--   @because 'superseded' (a surge rollout, issue #15) the preset is still inactive, and either the
--                         rollout's bound @surge_deadline has passed or the new version's preset
--                         @surge_preset_id still has at least @surge_min_new_eligible eligible
--                         prebuilds (the count the planner matched one for one; a claim of one of
--                         them since the snapshot refuses the delete until the next cycle).
--                         The @surge_* parameters are ignored for the other causes.
-- "Still an unclaimed prebuild": owned by the prebuilds user (a claim may have won), not deleted,
-- latest build a succeeded start (nothing in progress), or for 'stopped' a finished stop. The workspace rows are locked FOR UPDATE
-- SKIP LOCKED: a claim committed meanwhile is re-checked on the new row version and skipped, and a
-- workspace another session holds right now (a claim or build in flight) is left for the next
-- cycle instead of waiting on it (one busy workspace must not time out the whole set). A claim
-- that inserts the same build number and commits between this statement's snapshot and its insert
-- makes the statement fail with a unique violation: a lost race (the caller retries next cycle). The workspace is stamped deleting_at in the same
-- statement: a claim whose snapshot predates this commit still locks the row afterwards, and only a
-- change to the row itself makes PostgreSQL re-check it; claims therefore require
-- deleting_at IS NULL (queries/queue.sql).
-- Rows: one summary row (still_prebuilds: listed workspaces that were still unclaimed running
-- prebuilds; reason_holds: of those, how many the reason still covered) joined with one row per
-- delete build written (workspace_id NULL when none was).
WITH preset AS MATERIALIZED (
  SELECT
    tvp.id AS preset_id,
    tvp.invalidate_after_secs,
    tvp.last_invalidated_at,
    (tvp.template_version_id = t.active_version_id AND NOT t.deleted AND t.deprecated = '')
      AS is_active
  FROM template_version_presets tvp
  JOIN template_versions tv ON tv.id = tvp.template_version_id
  JOIN templates t ON t.id = tv.template_id
  WHERE tvp.id = @preset_id::uuid
),
pool AS MATERIALIZED (
  SELECT count(*) AS running
  FROM preset p
  JOIN workspace_builds wb ON wb.template_version_preset_id = p.preset_id
  JOIN workspaces w ON w.id = wb.workspace_id
  JOIN provisioner_jobs pj ON pj.id = wb.job_id
  WHERE wb.transition = 'start'
    AND pj.job_status = 'succeeded'
    AND w.owner_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
    AND NOT w.deleted
    AND NOT EXISTS (
      SELECT 1
      FROM workspace_builds newer
      WHERE newer.workspace_id = wb.workspace_id AND newer.build_number > wb.build_number
    )
    AND NOT (
      (p.last_invalidated_at IS NOT NULL AND w.created_at < LEAST(p.last_invalidated_at, now()))
      OR (
        p.invalidate_after_secs > 0
        AND now() - w.created_at > make_interval(secs => p.invalidate_after_secs)
      )
    )
),
surge AS MATERIALIZED (
  -- 'superseded' only: the eligible prebuilds of the surge rollout's new preset now (unclaimed, no
  -- delete queued, latest build a succeeded start of that preset, every top-level agent ready, not
  -- expired), the count the one-for-one rule re-checks (issue #15).
  SELECT count(*) AS eligible
  FROM template_version_presets np
  JOIN workspace_builds wb ON wb.template_version_preset_id = np.id
  JOIN workspaces w ON w.id = wb.workspace_id
  JOIN provisioner_jobs pj ON pj.id = wb.job_id
  WHERE @because::text = 'superseded'
    AND np.id = @surge_preset_id::uuid
    AND wb.transition = 'start'
    AND pj.job_status = 'succeeded'
    AND w.owner_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
    AND NOT w.deleted
    AND w.deleting_at IS NULL
    AND NOT EXISTS (
      SELECT 1
      FROM workspace_builds newer
      WHERE newer.workspace_id = wb.workspace_id AND newer.build_number > wb.build_number
    )
    AND NOT (
      (np.last_invalidated_at IS NOT NULL AND w.created_at < LEAST(np.last_invalidated_at, now()))
      OR (
        np.invalidate_after_secs > 0
        AND now() - w.created_at > make_interval(secs => np.invalidate_after_secs)
      )
    )
    AND COALESCE(
      (
        SELECT bool_and(wa.lifecycle_state = 'ready')
        FROM workspace_resources wr
        JOIN workspace_agents wa ON wa.resource_id = wr.id
        WHERE wr.job_id = wb.job_id AND NOT wa.deleted AND wa.parent_id IS NULL
      ),
      false
    )
),
input AS (
  SELECT i.workspace_id, i.build_id, i.job_id
  FROM unnest(@workspace_ids::uuid[], @build_ids::uuid[], @job_ids::uuid[])
    AS i (workspace_id, build_id, job_id)
),
target AS MATERIALIZED (
  SELECT
    w.id AS workspace_id,
    w.organization_id,
    w.created_at,
    i.build_id,
    i.job_id,
    lb.build_number,
    lb.template_version_id,
    lb.provisioner_state
  FROM input i
  JOIN workspaces w ON w.id = i.workspace_id
  CROSS JOIN LATERAL (
    SELECT wb.build_number, wb.template_version_id, wb.job_id, wb.transition, wb.provisioner_state
    FROM workspace_builds wb
    WHERE wb.workspace_id = w.id
    ORDER BY wb.build_number DESC
    LIMIT 1
  ) lb
  JOIN provisioner_jobs pj ON pj.id = lb.job_id
  WHERE w.owner_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
    AND NOT w.deleted
    AND (
      (@because::text <> 'stopped' AND lb.transition = 'start' AND pj.job_status = 'succeeded')
      OR (
        @because::text = 'stopped'
        AND lb.transition = 'stop'
        AND pj.job_status IN ('succeeded', 'failed')
      )
    )
  FOR UPDATE OF w SKIP LOCKED
),
eligible AS MATERIALIZED (
  SELECT
    t.*,
    row_number() OVER (ORDER BY t.created_at, t.workspace_id) AS rn
  FROM target t
  CROSS JOIN preset p
  WHERE CASE @because::text
    WHEN 'expired' THEN
      (p.last_invalidated_at IS NOT NULL AND t.created_at < LEAST(p.last_invalidated_at, now()))
      OR (
        p.invalidate_after_secs > 0
        AND now() - t.created_at > make_interval(secs => p.invalidate_after_secs)
      )
    WHEN 'inactive' THEN NOT p.is_active
    WHEN 'extraneous' THEN p.is_active
    WHEN 'stopped' THEN true
    WHEN 'superseded' THEN
      NOT p.is_active
      AND (
        now() >= @surge_deadline::timestamptz
        OR (SELECT sg.eligible FROM surge sg) >= @surge_min_new_eligible::integer
      )
    ELSE false
  END
),
chosen AS MATERIALIZED (
  SELECT e.*
  FROM eligible e
  CROSS JOIN pool c
  WHERE @because::text <> 'extraneous' OR e.rn <= c.running - @desired::integer
),
inserted_jobs AS (
  INSERT INTO provisioner_jobs (
    id, created_at, updated_at, organization_id, initiator_id, type, input, tags
  )
  SELECT
    c.job_id, now(), now(), c.organization_id,
    'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid, 'workspace_build',
    jsonb_build_object(
      'workspace_build_id', c.build_id,
      'prebuilt_workspace_build_stage', 'NONE'
    ),
    coalesce(
      (SELECT tv.provisioner_tags FROM template_versions tv WHERE tv.id = c.template_version_id),
      '{}'::jsonb
    ) || @tags::jsonb
  FROM chosen c
  RETURNING id
),
inserted_builds AS (
  INSERT INTO workspace_builds (
    id, created_at, updated_at, workspace_id, template_version_id, build_number, transition,
    initiator_id, job_id, template_version_preset_id, reason, provisioner_state
  )
  SELECT
    c.build_id, now(), now(), c.workspace_id, c.template_version_id, c.build_number + 1,
    'delete', 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid, c.job_id, @preset_id::uuid,
    'initiator', c.provisioner_state
  FROM chosen c
  RETURNING id
),
marked_workspaces AS (
  UPDATE workspaces w
  SET deleting_at = now(), updated_at = now()
  FROM chosen c
  WHERE w.id = c.workspace_id
  RETURNING w.id
),
summary AS (
  SELECT
    (SELECT count(*) FROM target)::integer AS still_prebuilds,
    (SELECT count(*) FROM eligible)::integer AS reason_holds
)
SELECT
  s.still_prebuilds::integer AS still_prebuilds,
  s.reason_holds::integer AS reason_holds,
  c.workspace_id,
  c.organization_id,
  c.job_id
FROM summary s
LEFT JOIN chosen c ON true
ORDER BY c.created_at, c.workspace_id;

-- name: CancelPendingPrebuildJobs :many
-- CancelPending (reference §5.2), one criteria-based UPDATE re-checked at write time: the pending,
-- unacquired first start build of this preset, initiated by the prebuilds user, while the preset
-- is inactive (re-read by this statement, so a promotion back since the snapshot cancels nothing).
-- A provisioner that acquired a job first has set started_at and worker_id; the re-check on the
-- locked row then leaves it alone; a job canceled or completed meanwhile (even with no worker) is
-- not pending any more. canceled_at = completed_at makes it canceled. The template's cancel policy
-- is re-read too (issue #13): under 'retain' nothing is canceled, whatever the plan said.
-- Deliberate difference: deleted and deprecated templates make a preset inactive too.
UPDATE provisioner_jobs pj
SET canceled_at = now(), completed_at = now()
FROM workspace_builds wb
JOIN workspaces w ON w.id = wb.workspace_id
JOIN templates t ON t.id = w.template_id
WHERE wb.job_id = pj.id
  AND wb.template_version_preset_id = @preset_id::uuid
  AND wb.initiator_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
  AND wb.build_number = 1
  AND wb.transition = 'start'
  AND (wb.template_version_id <> t.active_version_id OR t.deleted OR t.deprecated <> '')
  AND t.prebuild_cancel_policy <> 'retain'
  AND pj.job_status = 'pending'
  AND pj.started_at IS NULL
  AND pj.worker_id IS NULL
  AND pj.canceled_at IS NULL
  AND pj.completed_at IS NULL
RETURNING pj.id AS job_id, wb.workspace_id, w.template_id, pj.organization_id;

-- name: InsertOrphanDeleteBuilds :many
-- The orphan delete of canceled prebuilds, in CancelPending's transaction (reference §5.3): a
-- delete build with empty state, for each workspace still owned by the prebuilds user; the build
-- records @preset_id (the canceled build's preset), so the next snapshot counts it (issue #11).
-- It completes at once (succeeded, no worker, no queue slot) and the workspace is marked deleted
-- when no provisioner can have provisioned anything or none would ever run the job:
-- never_provisioned (issue #13, free deletes): the workspace's latest build is its start build
-- whose job was canceled before any worker acquired it (no started_at, no worker_id), whether or
-- not a provisioner is live; no_provisioner: no provisioner daemon of the organization was seen in
-- the last @stale_after_secs (by the database's clock). Otherwise (the start job had been acquired:
-- partial resources may exist) it is queued for a provisioner and stamped deleting_at (see
-- DeletePrebuilds). @free_deletes false queues never-provisioned deletes too (the behaviour before
-- issue #13; only the benchmark's before/after sets it). Returns one row per delete build written.
WITH input AS (
  SELECT i.workspace_id, i.build_id, i.job_id
  FROM unnest(@workspace_ids::uuid[], @build_ids::uuid[], @job_ids::uuid[])
    AS i (workspace_id, build_id, job_id)
),
target AS (
  SELECT
    i.workspace_id,
    i.build_id,
    i.job_id,
    w.organization_id,
    lb.build_number,
    lb.template_version_id,
    (
      lb.transition = 'start'
      AND lpj.canceled_at IS NOT NULL
      AND lpj.started_at IS NULL
      AND lpj.worker_id IS NULL
    ) AS never_provisioned,
    NOT EXISTS (
      SELECT 1
      FROM provisioner_daemons d
      WHERE d.organization_id = w.organization_id
        AND d.last_seen_at >= now() - make_interval(secs => @stale_after_secs::float8)
    ) AS no_provisioner
  FROM input i
  JOIN workspaces w ON w.id = i.workspace_id
  CROSS JOIN LATERAL (
    SELECT wb.build_number, wb.template_version_id, wb.transition, wb.job_id
    FROM workspace_builds wb
    WHERE wb.workspace_id = w.id
    ORDER BY wb.build_number DESC
    LIMIT 1
  ) lb
  JOIN provisioner_jobs lpj ON lpj.id = lb.job_id
  WHERE w.owner_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
    AND NOT w.deleted
  FOR UPDATE OF w
),
verdict AS (
  SELECT t.*, ((t.never_provisioned AND @free_deletes::boolean) OR t.no_provisioner) AS complete_now
  FROM target t
),
inserted_jobs AS (
  INSERT INTO provisioner_jobs (
    id, created_at, updated_at, started_at, completed_at, organization_id, initiator_id, type,
    input, tags
  )
  SELECT
    t.job_id, now(), now(),
    CASE WHEN t.complete_now THEN now() END,
    CASE WHEN t.complete_now THEN now() END,
    t.organization_id, 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid, 'workspace_build',
    jsonb_build_object(
      'workspace_build_id', t.build_id,
      'prebuilt_workspace_build_stage', 'NONE'
    ),
    coalesce(
      (SELECT tv.provisioner_tags FROM template_versions tv WHERE tv.id = t.template_version_id),
      '{}'::jsonb
    ) || @tags::jsonb
  FROM verdict t
  RETURNING id
),
inserted_builds AS (
  INSERT INTO workspace_builds (
    id, created_at, updated_at, workspace_id, template_version_id, build_number, transition,
    initiator_id, job_id, template_version_preset_id, reason, provisioner_state
  )
  SELECT
    t.build_id, now(), now(), t.workspace_id, t.template_version_id,
    t.build_number + 1, 'delete', 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid, t.job_id,
    @preset_id::uuid, 'initiator', ''::bytea
  FROM verdict t
  RETURNING id
),
marked_workspaces AS (
  UPDATE workspaces w
  SET deleted = t.complete_now, deleting_at = now(), updated_at = now()
  FROM verdict t
  WHERE w.id = t.workspace_id
  RETURNING w.id
)
SELECT
  t.workspace_id::uuid AS workspace_id,
  t.job_id::uuid AS job_id,
  t.organization_id,
  t.complete_now::boolean AS complete_now,
  t.never_provisioned::boolean AS never_provisioned
FROM verdict t
ORDER BY t.workspace_id;

-- name: UpdatePresetPrebuildStatus :one
-- Marks a preset hard_limited or validation_failed; only the first detection writes (and returns
-- a row), so repeated cycles do not repeat the warning.
UPDATE template_version_presets
SET prebuild_status = @status::prebuild_status
WHERE id = @preset_id::uuid
  AND prebuild_status <> @status::prebuild_status
RETURNING id;

-- name: NotifyProvisionerJobsPosted :exec
-- Wakes provisioners after the commit that made the jobs real; one notification per job so that
-- as many idle provisioners wake as there are jobs. Payload: {"organization_id", "job_id"}. The
-- channel is src/worker/channels.ts's JOB_POSTED_CHANNEL (one home for its name).
SELECT pg_notify(@channel::text, payload)::text AS notified
FROM unnest(@payloads::text[]) AS payload;

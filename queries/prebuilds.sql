-- The reconciler's writes. Each guard sits in the WHERE clause of the statement that writes, so
-- PostgreSQL re-checks it on the row version it locks (READ COMMITTED re-evaluates a concurrently
-- updated row); the unique (workspace_id, build_number) is the final arbiter of a claim race.
-- 'c42fdf75-3097-471c-8c33-fb52454d81c0' is the prebuilds system user (src/prebuildsUser.ts).

-- name: CreatePrebuilds :many
-- Create, whole, in ONE statement (its own transaction: no BEGIN/COMMIT round trips): N prebuilds
-- of one preset — workspace, provisioner job (stage CREATE), build number 1 with the preset, and
-- the preset's parameters as build parameters — or nothing, with the reason.
-- The guards run in the statement that writes: the template row is locked FOR SHARE (held until
-- this statement commits, so a promotion cannot slip in before the prebuilds are in; the reference
-- pairs the snapshot's preset with whatever version is active now), the preset must be on the
-- template's active version (template neither deleted nor deprecated), and its version's required
-- parameters without a default must all be set by the preset (a build without them would fail
-- validation every time: reference §4.6). A preset that misses one is marked validation_failed in
-- the same statement (first_detection: this statement changed the status).
-- Rows: no row = the preset (or its version or template) is gone; one row with a NULL
-- workspace_id = nothing created, outcome says why ('preset_inactive', 'validation_failed');
-- otherwise one row per prebuild created (outcome 'created'). Ids come from the caller so the job
-- input can name its build. Foreign keys are checked at the end of the statement.
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
verdict AS MATERIALIZED (
  SELECT
    p.template_id,
    p.organization_id,
    p.active_version_id,
    p.template_version_id,
    m.missing_parameters,
    CASE
      WHEN NOT p.is_active THEN 'preset_inactive'
      WHEN cardinality(m.missing_parameters) > 0 THEN 'validation_failed'
      ELSE 'created'
    END AS outcome
  FROM preset p
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
input AS MATERIALIZED (
  SELECT
    i.workspace_id, i.build_id, i.job_id, i.name, v.organization_id, v.template_id,
    v.template_version_id
  FROM verdict v
  CROSS JOIN unnest(
    @workspace_ids::uuid[], @build_ids::uuid[], @job_ids::uuid[], @names::text[]
  ) AS i (workspace_id, build_id, job_id, name)
  WHERE v.outcome = 'created'
),
inserted_workspaces AS (
  INSERT INTO workspaces (
    id, created_at, updated_at, owner_id, organization_id, template_id, name, last_used_at
  )
  SELECT
    i.workspace_id, @now::timestamptz, @now::timestamptz,
    'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid, i.organization_id, i.template_id,
    i.name, @now::timestamptz
  FROM input i
  RETURNING id
),
inserted_jobs AS (
  INSERT INTO provisioner_jobs (
    id, created_at, updated_at, organization_id, initiator_id, type, input, tags
  )
  SELECT
    i.job_id, @now::timestamptz, @now::timestamptz, i.organization_id,
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
    i.build_id, @now::timestamptz, @now::timestamptz, i.workspace_id,
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
  i.workspace_id,
  i.job_id
FROM verdict v
LEFT JOIN input i ON true;

-- name: InsertPrebuildDeleteBuild :one
-- Delete one prebuild, if it still is one: owned by the prebuilds user (a claim may have won), not
-- deleted, and its latest build a succeeded start (nothing in progress). The delete build reuses
-- the latest build's version and state. No row returned = the guard failed. A claim that inserts
-- the same build number concurrently makes this fail with a unique violation: a lost race.
-- The workspace row is stamped deleting_at in the same statement: a claim whose snapshot predates
-- this commit still locks the row afterwards, and only a change to the row itself makes
-- PostgreSQL re-check it; claims therefore require deleting_at IS NULL (queries/queue.sql).
WITH target AS (
  SELECT
    w.id AS workspace_id,
    w.organization_id,
    lb.build_number,
    lb.template_version_id,
    lb.provisioner_state
  FROM workspaces w
  CROSS JOIN LATERAL (
    SELECT wb.build_number, wb.template_version_id, wb.job_id, wb.transition, wb.provisioner_state
    FROM workspace_builds wb
    WHERE wb.workspace_id = w.id
    ORDER BY wb.build_number DESC
    LIMIT 1
  ) lb
  JOIN provisioner_jobs pj ON pj.id = lb.job_id
  WHERE w.id = @workspace_id::uuid
    AND w.owner_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
    AND NOT w.deleted
    AND lb.transition = 'start'
    AND pj.job_status = 'succeeded'
  FOR UPDATE OF w
),
inserted_job AS (
  INSERT INTO provisioner_jobs (
    id, created_at, updated_at, organization_id, initiator_id, type, input, tags
  )
  SELECT
    @job_id::uuid, @now::timestamptz, @now::timestamptz, t.organization_id,
    'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid, 'workspace_build',
    jsonb_build_object(
      'workspace_build_id', @build_id::uuid,
      'prebuilt_workspace_build_stage', 'NONE'
    ),
    coalesce(
      (SELECT tv.provisioner_tags FROM template_versions tv WHERE tv.id = t.template_version_id),
      '{}'::jsonb
    ) || @tags::jsonb
  FROM target t
  RETURNING id
),
inserted_build AS (
  INSERT INTO workspace_builds (
    id, created_at, updated_at, workspace_id, template_version_id, build_number, transition,
    initiator_id, job_id, reason, provisioner_state
  )
  SELECT
    @build_id::uuid, @now::timestamptz, @now::timestamptz, t.workspace_id, t.template_version_id,
    t.build_number + 1, 'delete', 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid, @job_id::uuid,
    'initiator', t.provisioner_state
  FROM target t
  RETURNING id
),
marked_workspace AS (
  UPDATE workspaces
  SET deleting_at = @now::timestamptz, updated_at = @now::timestamptz
  WHERE id IN (SELECT t.workspace_id FROM target t)
  RETURNING id
)
SELECT
  t.workspace_id,
  t.organization_id,
  (t.build_number + 1)::integer AS build_number
FROM target t;

-- name: CancelPendingPrebuildJobs :many
-- CancelPending (reference §5.2), one criteria-based UPDATE re-checked at write time: the pending,
-- unacquired first start build of this preset, initiated by the prebuilds user, while the preset
-- is inactive. A provisioner that acquired a job first has set started_at and worker_id; the
-- re-check on the locked row then leaves it alone. canceled_at = completed_at makes it canceled.
-- Deliberate difference: deleted and deprecated templates make a preset inactive too.
UPDATE provisioner_jobs pj
SET canceled_at = @now::timestamptz, completed_at = @now::timestamptz
FROM workspace_builds wb
JOIN workspaces w ON w.id = wb.workspace_id
JOIN templates t ON t.id = w.template_id
WHERE wb.job_id = pj.id
  AND wb.template_version_preset_id = @preset_id::uuid
  AND wb.initiator_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
  AND wb.build_number = 1
  AND wb.transition = 'start'
  AND (wb.template_version_id <> t.active_version_id OR t.deleted OR t.deprecated <> '')
  AND pj.job_status = 'pending'
  AND pj.started_at IS NULL
  AND pj.worker_id IS NULL
  AND pj.canceled_at IS NULL
  AND pj.completed_at IS NULL
RETURNING pj.id AS job_id, wb.workspace_id, w.template_id, pj.organization_id;

-- name: InsertOrphanDeleteBuilds :many
-- The orphan delete of canceled prebuilds, in CancelPending's transaction (reference §5.3): a
-- delete build with empty state (nothing was provisioned), for each workspace still owned by the
-- prebuilds user. When no provisioner daemon of the organization was seen since live_since,
-- nothing would ever run the job: it completes now (succeeded, no worker) and the workspace is
-- marked deleted; otherwise it is stamped deleting_at (see InsertPrebuildDeleteBuild). Returns one
-- row per delete build written.
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
    NOT EXISTS (
      SELECT 1
      FROM provisioner_daemons d
      WHERE d.organization_id = w.organization_id
        AND d.last_seen_at >= @live_since::timestamptz
    ) AS complete_now
  FROM input i
  JOIN workspaces w ON w.id = i.workspace_id
  CROSS JOIN LATERAL (
    SELECT wb.build_number, wb.template_version_id
    FROM workspace_builds wb
    WHERE wb.workspace_id = w.id
    ORDER BY wb.build_number DESC
    LIMIT 1
  ) lb
  WHERE w.owner_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
    AND NOT w.deleted
  FOR UPDATE OF w
),
inserted_jobs AS (
  INSERT INTO provisioner_jobs (
    id, created_at, updated_at, started_at, completed_at, organization_id, initiator_id, type,
    input, tags
  )
  SELECT
    t.job_id, @now::timestamptz, @now::timestamptz,
    CASE WHEN t.complete_now THEN @now::timestamptz END,
    CASE WHEN t.complete_now THEN @now::timestamptz END,
    t.organization_id, 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid, 'workspace_build',
    jsonb_build_object(
      'workspace_build_id', t.build_id,
      'prebuilt_workspace_build_stage', 'NONE'
    ),
    coalesce(
      (SELECT tv.provisioner_tags FROM template_versions tv WHERE tv.id = t.template_version_id),
      '{}'::jsonb
    ) || @tags::jsonb
  FROM target t
  RETURNING id
),
inserted_builds AS (
  INSERT INTO workspace_builds (
    id, created_at, updated_at, workspace_id, template_version_id, build_number, transition,
    initiator_id, job_id, reason, provisioner_state
  )
  SELECT
    t.build_id, @now::timestamptz, @now::timestamptz, t.workspace_id, t.template_version_id,
    t.build_number + 1, 'delete', 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid, t.job_id,
    'initiator', ''::bytea
  FROM target t
  RETURNING id
),
marked_workspaces AS (
  UPDATE workspaces w
  SET deleted = t.complete_now, deleting_at = @now::timestamptz, updated_at = @now::timestamptz
  FROM target t
  WHERE w.id = t.workspace_id
  RETURNING w.id
)
SELECT
  t.workspace_id::uuid AS workspace_id,
  t.job_id::uuid AS job_id,
  t.organization_id,
  t.complete_now::boolean AS complete_now
FROM target t
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
-- as many idle provisioners wake as there are jobs. Payload: {"organization_id", "job_id"}.
SELECT pg_notify('provisioner_job_posted', payload)::text AS notified
FROM unnest(@payloads::text[]) AS payload;

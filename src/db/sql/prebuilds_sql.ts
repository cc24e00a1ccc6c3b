import type { QueryArrayConfig, QueryArrayResult } from "pg";

interface Client {
    query: (config: QueryArrayConfig) => Promise<QueryArrayResult>;
}

export const lockPresetForWriteQuery = `-- name: LockPresetForWrite :one

SELECT tvp.id
FROM template_version_presets tvp
WHERE tvp.id = $1::uuid
FOR NO KEY UPDATE`;

export interface LockPresetForWriteArgs {
    presetId: string;
}

export interface LockPresetForWriteRow {
    id: string;
}

export async function lockPresetForWrite(client: Client, args: LockPresetForWriteArgs): Promise<LockPresetForWriteRow | null> {
    const result = await client.query({
        text: lockPresetForWriteQuery,
        values: [args.presetId],
        rowMode: "array"
    });
    if (result.rows.length !== 1) {
        return null;
    }
    const row = result.rows[0];
    if (!row) {
        return null;
    }
    return {
        id: row[0]
    };
}

export const createPrebuildsQuery = `-- name: CreatePrebuilds :many
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
  WHERE tvp.id = $1::uuid
  FOR SHARE OF t
),
present AS MATERIALIZED (
  SELECT count(*)::integer AS present
  FROM workspace_builds wb
  JOIN workspaces w ON w.id = wb.workspace_id
  JOIN provisioner_jobs pj ON pj.id = wb.job_id
  WHERE wb.template_version_preset_id = $1::uuid
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
    LEAST($2::integer, GREATEST(($3::integer) - c.present, 0)) AS allowed,
    CASE
      WHEN NOT p.is_active THEN 'preset_inactive'
      WHEN cardinality(m.missing_parameters) > 0 THEN 'validation_failed'
      WHEN c.present >= $3::integer THEN 'pool_full'
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
  WHERE tvp.id = $1::uuid
    AND v.outcome = 'validation_failed'
    AND tvp.prebuild_status <> 'validation_failed'
  RETURNING tvp.id
),
resolved_future_invalidation AS (
  UPDATE template_version_presets tvp
  SET last_invalidated_at = now()
  FROM verdict v
  WHERE tvp.id = $1::uuid
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
    $4::uuid[], $5::uuid[], $6::uuid[], $7::text[]
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
    ) || $8::jsonb
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
    i.job_id, $1::uuid, 'initiator'
  FROM input i
  RETURNING id
),
inserted_parameters AS (
  INSERT INTO workspace_build_parameters (workspace_build_id, name, value)
  SELECT i.build_id, pp.name, pp.value
  FROM input i
  JOIN template_version_preset_parameters pp ON pp.template_version_preset_id = $1::uuid
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
LEFT JOIN input i ON true`;

export interface CreatePrebuildsArgs {
    presetId: string;
    count: number;
    desired: number;
    workspaceIds: string[];
    buildIds: string[];
    jobIds: string[];
    names: string[];
    tags: any;
}

export interface CreatePrebuildsRow {
    outcome: string;
    organizationId: string;
    activeVersionId: string;
    missingParameters: string[];
    firstDetection: boolean;
    present: number;
    workspaceId: string | null;
    jobId: string | null;
}

export async function createPrebuilds(client: Client, args: CreatePrebuildsArgs): Promise<CreatePrebuildsRow[]> {
    const result = await client.query({
        text: createPrebuildsQuery,
        values: [args.presetId, args.count, args.desired, args.workspaceIds, args.buildIds, args.jobIds, args.names, args.tags],
        rowMode: "array"
    });
    return result.rows.map(row => {
        return {
            outcome: row[0],
            organizationId: row[1],
            activeVersionId: row[2],
            missingParameters: row[3],
            firstDetection: row[4],
            present: row[5],
            workspaceId: row[6],
            jobId: row[7]
        };
    });
}

export const deletePrebuildsQuery = `-- name: DeletePrebuilds :many
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
  WHERE tvp.id = $1::uuid
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
  WHERE $2::text = 'superseded'
    AND np.id = $3::uuid
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
  FROM unnest($4::uuid[], $5::uuid[], $6::uuid[])
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
      ($2::text <> 'stopped' AND lb.transition = 'start' AND pj.job_status = 'succeeded')
      OR (
        $2::text = 'stopped'
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
  WHERE CASE $2::text
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
        now() >= $7::timestamptz
        OR (SELECT sg.eligible FROM surge sg) >= $8::integer
      )
    ELSE false
  END
),
chosen AS MATERIALIZED (
  SELECT e.*
  FROM eligible e
  CROSS JOIN pool c
  WHERE $2::text <> 'extraneous' OR e.rn <= c.running - $9::integer
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
    ) || $10::jsonb
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
    'delete', 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid, c.job_id, $1::uuid,
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
ORDER BY c.created_at, c.workspace_id`;

export interface DeletePrebuildsArgs {
    presetId: string;
    because: string;
    surgePresetId: string;
    workspaceIds: string[];
    buildIds: string[];
    jobIds: string[];
    surgeDeadline: Date;
    surgeMinNewEligible: number;
    desired: number;
    tags: any;
}

export interface DeletePrebuildsRow {
    stillPrebuilds: number;
    reasonHolds: number;
    workspaceId: string | null;
    organizationId: string | null;
    jobId: string | null;
}

export async function deletePrebuilds(client: Client, args: DeletePrebuildsArgs): Promise<DeletePrebuildsRow[]> {
    const result = await client.query({
        text: deletePrebuildsQuery,
        values: [args.presetId, args.because, args.surgePresetId, args.workspaceIds, args.buildIds, args.jobIds, args.surgeDeadline, args.surgeMinNewEligible, args.desired, args.tags],
        rowMode: "array"
    });
    return result.rows.map(row => {
        return {
            stillPrebuilds: row[0],
            reasonHolds: row[1],
            workspaceId: row[2],
            organizationId: row[3],
            jobId: row[4]
        };
    });
}

export const cancelPendingPrebuildJobsQuery = `-- name: CancelPendingPrebuildJobs :many
UPDATE provisioner_jobs pj
SET canceled_at = now(), completed_at = now()
FROM workspace_builds wb
JOIN workspaces w ON w.id = wb.workspace_id
JOIN templates t ON t.id = w.template_id
WHERE wb.job_id = pj.id
  AND wb.template_version_preset_id = $1::uuid
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
RETURNING pj.id AS job_id, wb.workspace_id, w.template_id, pj.organization_id`;

export interface CancelPendingPrebuildJobsArgs {
    presetId: string;
}

export interface CancelPendingPrebuildJobsRow {
    jobId: string;
    workspaceId: string;
    templateId: string;
    organizationId: string;
}

export async function cancelPendingPrebuildJobs(client: Client, args: CancelPendingPrebuildJobsArgs): Promise<CancelPendingPrebuildJobsRow[]> {
    const result = await client.query({
        text: cancelPendingPrebuildJobsQuery,
        values: [args.presetId],
        rowMode: "array"
    });
    return result.rows.map(row => {
        return {
            jobId: row[0],
            workspaceId: row[1],
            templateId: row[2],
            organizationId: row[3]
        };
    });
}

export const insertOrphanDeleteBuildsQuery = `-- name: InsertOrphanDeleteBuilds :many
WITH input AS (
  SELECT i.workspace_id, i.build_id, i.job_id
  FROM unnest($1::uuid[], $2::uuid[], $3::uuid[])
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
        AND d.last_seen_at >= now() - make_interval(secs => $4::float8)
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
  SELECT t.*, ((t.never_provisioned AND $5::boolean) OR t.no_provisioner) AS complete_now
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
    ) || $6::jsonb
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
    $7::uuid, 'initiator', ''::bytea
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
ORDER BY t.workspace_id`;

export interface InsertOrphanDeleteBuildsArgs {
    workspaceIds: string[];
    buildIds: string[];
    jobIds: string[];
    staleAfterSecs: number;
    freeDeletes: boolean;
    tags: any;
    presetId: string;
}

export interface InsertOrphanDeleteBuildsRow {
    workspaceId: string;
    jobId: string;
    organizationId: string;
    completeNow: boolean;
    neverProvisioned: boolean;
}

export async function insertOrphanDeleteBuilds(client: Client, args: InsertOrphanDeleteBuildsArgs): Promise<InsertOrphanDeleteBuildsRow[]> {
    const result = await client.query({
        text: insertOrphanDeleteBuildsQuery,
        values: [args.workspaceIds, args.buildIds, args.jobIds, args.staleAfterSecs, args.freeDeletes, args.tags, args.presetId],
        rowMode: "array"
    });
    return result.rows.map(row => {
        return {
            workspaceId: row[0],
            jobId: row[1],
            organizationId: row[2],
            completeNow: row[3],
            neverProvisioned: row[4]
        };
    });
}

export const updatePresetPrebuildStatusQuery = `-- name: UpdatePresetPrebuildStatus :one
UPDATE template_version_presets
SET prebuild_status = $1::prebuild_status
WHERE id = $2::uuid
  AND prebuild_status <> $1::prebuild_status
RETURNING id`;

export interface UpdatePresetPrebuildStatusArgs {
    status: string;
    presetId: string;
}

export interface UpdatePresetPrebuildStatusRow {
    id: string;
}

export async function updatePresetPrebuildStatus(client: Client, args: UpdatePresetPrebuildStatusArgs): Promise<UpdatePresetPrebuildStatusRow | null> {
    const result = await client.query({
        text: updatePresetPrebuildStatusQuery,
        values: [args.status, args.presetId],
        rowMode: "array"
    });
    if (result.rows.length !== 1) {
        return null;
    }
    const row = result.rows[0];
    if (!row) {
        return null;
    }
    return {
        id: row[0]
    };
}

export const notifyProvisionerJobsPostedQuery = `-- name: NotifyProvisionerJobsPosted :exec
SELECT pg_notify($1::text, payload)::text AS notified
FROM unnest($2::text[]) AS payload`;

export interface NotifyProvisionerJobsPostedArgs {
    channel: string;
    payloads: string[];
}

export interface NotifyProvisionerJobsPostedRow {
    notified: string;
}

export async function notifyProvisionerJobsPosted(client: Client, args: NotifyProvisionerJobsPostedArgs): Promise<void> {
    await client.query({
        text: notifyProvisionerJobsPostedQuery,
        values: [args.channel, args.payloads],
        rowMode: "array"
    });
}


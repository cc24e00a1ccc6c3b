import type { QueryArrayConfig, QueryArrayResult } from "pg";

interface Client {
    query: (config: QueryArrayConfig) => Promise<QueryArrayResult>;
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
  WHERE tvp.id = $1::uuid
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
    $2::uuid[], $3::uuid[], $4::uuid[], $5::text[]
  ) AS i (workspace_id, build_id, job_id, name)
  WHERE v.outcome = 'created'
),
inserted_workspaces AS (
  INSERT INTO workspaces (
    id, created_at, updated_at, owner_id, organization_id, template_id, name, last_used_at
  )
  SELECT
    i.workspace_id, $6::timestamptz, $6::timestamptz,
    'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid, i.organization_id, i.template_id,
    i.name, $6::timestamptz
  FROM input i
  RETURNING id
),
inserted_jobs AS (
  INSERT INTO provisioner_jobs (
    id, created_at, updated_at, organization_id, initiator_id, type, input, tags
  )
  SELECT
    i.job_id, $6::timestamptz, $6::timestamptz, i.organization_id,
    'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid, 'workspace_build',
    jsonb_build_object(
      'workspace_build_id', i.build_id,
      'prebuilt_workspace_build_stage', 'CREATE'
    ),
    -- The version's provisioner tags, PREBUILDS_PROVISIONER_TAGS over them (issue #12).
    coalesce(
      (SELECT tv.provisioner_tags FROM template_versions tv WHERE tv.id = i.template_version_id),
      '{}'::jsonb
    ) || $7::jsonb
  FROM input i
  RETURNING id
),
inserted_builds AS (
  INSERT INTO workspace_builds (
    id, created_at, updated_at, workspace_id, template_version_id, build_number, transition,
    initiator_id, job_id, template_version_preset_id, reason
  )
  SELECT
    i.build_id, $6::timestamptz, $6::timestamptz, i.workspace_id,
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
  i.workspace_id,
  i.job_id
FROM verdict v
LEFT JOIN input i ON true`;

export interface CreatePrebuildsArgs {
    presetId: string;
    workspaceIds: string[];
    buildIds: string[];
    jobIds: string[];
    names: string[];
    now: Date;
    tags: any;
}

export interface CreatePrebuildsRow {
    outcome: string;
    organizationId: string;
    activeVersionId: string;
    missingParameters: string[];
    firstDetection: boolean;
    workspaceId: string | null;
    jobId: string | null;
}

export async function createPrebuilds(client: Client, args: CreatePrebuildsArgs): Promise<CreatePrebuildsRow[]> {
    const result = await client.query({
        text: createPrebuildsQuery,
        values: [args.presetId, args.workspaceIds, args.buildIds, args.jobIds, args.names, args.now, args.tags],
        rowMode: "array"
    });
    return result.rows.map(row => {
        return {
            outcome: row[0],
            organizationId: row[1],
            activeVersionId: row[2],
            missingParameters: row[3],
            firstDetection: row[4],
            workspaceId: row[5],
            jobId: row[6]
        };
    });
}

export const insertPrebuildDeleteBuildQuery = `-- name: InsertPrebuildDeleteBuild :one
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
  WHERE w.id = $1::uuid
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
    $2::uuid, $3::timestamptz, $3::timestamptz, t.organization_id,
    'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid, 'workspace_build',
    jsonb_build_object(
      'workspace_build_id', $4::uuid,
      'prebuilt_workspace_build_stage', 'NONE'
    ),
    coalesce(
      (SELECT tv.provisioner_tags FROM template_versions tv WHERE tv.id = t.template_version_id),
      '{}'::jsonb
    ) || $5::jsonb
  FROM target t
  RETURNING id
),
inserted_build AS (
  INSERT INTO workspace_builds (
    id, created_at, updated_at, workspace_id, template_version_id, build_number, transition,
    initiator_id, job_id, reason, provisioner_state
  )
  SELECT
    $4::uuid, $3::timestamptz, $3::timestamptz, t.workspace_id, t.template_version_id,
    t.build_number + 1, 'delete', 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid, $2::uuid,
    'initiator', t.provisioner_state
  FROM target t
  RETURNING id
),
marked_workspace AS (
  UPDATE workspaces
  SET deleting_at = $3::timestamptz, updated_at = $3::timestamptz
  WHERE id IN (SELECT t.workspace_id FROM target t)
  RETURNING id
)
SELECT
  t.workspace_id,
  t.organization_id,
  (t.build_number + 1)::integer AS build_number
FROM target t`;

export interface InsertPrebuildDeleteBuildArgs {
    workspaceId: string;
    jobId: string;
    now: Date;
    buildId: string;
    tags: any;
}

export interface InsertPrebuildDeleteBuildRow {
    workspaceId: string;
    organizationId: string;
    buildNumber: number;
}

export async function insertPrebuildDeleteBuild(client: Client, args: InsertPrebuildDeleteBuildArgs): Promise<InsertPrebuildDeleteBuildRow | null> {
    const result = await client.query({
        text: insertPrebuildDeleteBuildQuery,
        values: [args.workspaceId, args.jobId, args.now, args.buildId, args.tags],
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
        workspaceId: row[0],
        organizationId: row[1],
        buildNumber: row[2]
    };
}

export const cancelPendingPrebuildJobsQuery = `-- name: CancelPendingPrebuildJobs :many
UPDATE provisioner_jobs pj
SET canceled_at = $1::timestamptz, completed_at = $1::timestamptz
FROM workspace_builds wb
JOIN workspaces w ON w.id = wb.workspace_id
JOIN templates t ON t.id = w.template_id
WHERE wb.job_id = pj.id
  AND wb.template_version_preset_id = $2::uuid
  AND wb.initiator_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
  AND wb.build_number = 1
  AND wb.transition = 'start'
  AND (wb.template_version_id <> t.active_version_id OR t.deleted OR t.deprecated <> '')
  AND pj.job_status = 'pending'
  AND pj.started_at IS NULL
  AND pj.worker_id IS NULL
  AND pj.canceled_at IS NULL
  AND pj.completed_at IS NULL
RETURNING pj.id AS job_id, wb.workspace_id, w.template_id, pj.organization_id`;

export interface CancelPendingPrebuildJobsArgs {
    now: Date;
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
        values: [args.now, args.presetId],
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
    NOT EXISTS (
      SELECT 1
      FROM provisioner_daemons d
      WHERE d.organization_id = w.organization_id
        AND d.last_seen_at >= $4::timestamptz
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
    t.job_id, $5::timestamptz, $5::timestamptz,
    CASE WHEN t.complete_now THEN $5::timestamptz END,
    CASE WHEN t.complete_now THEN $5::timestamptz END,
    t.organization_id, 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid, 'workspace_build',
    jsonb_build_object(
      'workspace_build_id', t.build_id,
      'prebuilt_workspace_build_stage', 'NONE'
    ),
    coalesce(
      (SELECT tv.provisioner_tags FROM template_versions tv WHERE tv.id = t.template_version_id),
      '{}'::jsonb
    ) || $6::jsonb
  FROM target t
  RETURNING id
),
inserted_builds AS (
  INSERT INTO workspace_builds (
    id, created_at, updated_at, workspace_id, template_version_id, build_number, transition,
    initiator_id, job_id, reason, provisioner_state
  )
  SELECT
    t.build_id, $5::timestamptz, $5::timestamptz, t.workspace_id, t.template_version_id,
    t.build_number + 1, 'delete', 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid, t.job_id,
    'initiator', ''::bytea
  FROM target t
  RETURNING id
),
marked_workspaces AS (
  UPDATE workspaces w
  SET deleted = t.complete_now, deleting_at = $5::timestamptz, updated_at = $5::timestamptz
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
ORDER BY t.workspace_id`;

export interface InsertOrphanDeleteBuildsArgs {
    workspaceIds: string[];
    buildIds: string[];
    jobIds: string[];
    liveSince: Date;
    now: Date;
    tags: any;
}

export interface InsertOrphanDeleteBuildsRow {
    workspaceId: string;
    jobId: string;
    organizationId: string;
    completeNow: boolean;
}

export async function insertOrphanDeleteBuilds(client: Client, args: InsertOrphanDeleteBuildsArgs): Promise<InsertOrphanDeleteBuildsRow[]> {
    const result = await client.query({
        text: insertOrphanDeleteBuildsQuery,
        values: [args.workspaceIds, args.buildIds, args.jobIds, args.liveSince, args.now, args.tags],
        rowMode: "array"
    });
    return result.rows.map(row => {
        return {
            workspaceId: row[0],
            jobId: row[1],
            organizationId: row[2],
            completeNow: row[3]
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
SELECT pg_notify('provisioner_job_posted', payload)::text AS notified
FROM unnest($1::text[]) AS payload`;

export interface NotifyProvisionerJobsPostedArgs {
    payloads: string[];
}

export interface NotifyProvisionerJobsPostedRow {
    notified: string;
}

export async function notifyProvisionerJobsPosted(client: Client, args: NotifyProvisionerJobsPostedArgs): Promise<void> {
    await client.query({
        text: notifyProvisionerJobsPostedQuery,
        values: [args.payloads],
        rowMode: "array"
    });
}


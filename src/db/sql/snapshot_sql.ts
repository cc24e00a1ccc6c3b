import type { QueryArrayConfig, QueryArrayResult } from "pg";

interface Client {
    query: (config: QueryArrayConfig) => Promise<QueryArrayResult>;
}

export const getDatabaseClockQuery = `-- name: GetDatabaseClock :one

SELECT statement_timestamp()::timestamptz AS now`;

export interface GetDatabaseClockRow {
    now: Date;
}

export async function getDatabaseClock(client: Client): Promise<GetDatabaseClockRow | null> {
    const result = await client.query({
        text: getDatabaseClockQuery,
        values: [],
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
        now: row[0]
    };
}

export const getTemplatePresetsWithPrebuildsQuery = `-- name: GetTemplatePresetsWithPrebuilds :many
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
      NOT $1::boolean
      AND ((tv.id = t.active_version_id AND NOT t.deleted) OR $2::boolean)
    )
    OR (
      tvp.id = ANY($3::uuid[])
      AND (
        NOT $1::boolean
        OR (tv.id = t.active_version_id AND NOT t.deleted)
        OR tvp.id = ANY($4::uuid[])
      )
    )
  )`;

export interface GetTemplatePresetsWithPrebuildsArgs {
    onlyPresets: boolean;
    everyPreset: boolean;
    presetIds: string[];
    keepPresetIds: string[];
}

export interface GetTemplatePresetsWithPrebuildsRow {
    templateId: string;
    templateName: string;
    organizationId: string;
    organizationName: string;
    templateVersionId: string;
    templateVersionName: string;
    usingActiveVersion: boolean;
    presetId: string;
    presetName: string;
    desiredInstances: number;
    ttlSeconds: number | null;
    prebuildStatus: string;
    schedulingTimezone: string;
    lastInvalidatedAt: Date | null;
    templateDeleted: boolean;
    templateDeprecated: boolean;
    cancelPolicy: string;
    activeVersionExists: boolean;
    activeVersionOfTemplate: string;
}

export async function getTemplatePresetsWithPrebuilds(client: Client, args: GetTemplatePresetsWithPrebuildsArgs): Promise<GetTemplatePresetsWithPrebuildsRow[]> {
    const result = await client.query({
        text: getTemplatePresetsWithPrebuildsQuery,
        values: [args.onlyPresets, args.everyPreset, args.presetIds, args.keepPresetIds],
        rowMode: "array"
    });
    return result.rows.map(row => {
        return {
            templateId: row[0],
            templateName: row[1],
            organizationId: row[2],
            organizationName: row[3],
            templateVersionId: row[4],
            templateVersionName: row[5],
            usingActiveVersion: row[6],
            presetId: row[7],
            presetName: row[8],
            desiredInstances: row[9],
            ttlSeconds: row[10],
            prebuildStatus: row[11],
            schedulingTimezone: row[12],
            lastInvalidatedAt: row[13],
            templateDeleted: row[14],
            templateDeprecated: row[15],
            cancelPolicy: row[16],
            activeVersionExists: row[17],
            activeVersionOfTemplate: row[18]
        };
    });
}

export const getActivePresetPrebuildSchedulesQuery = `-- name: GetActivePresetPrebuildSchedules :many
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
  AND (NOT $1::boolean OR s.preset_id = ANY($2::uuid[]))
ORDER BY s.preset_id, s.id`;

export interface GetActivePresetPrebuildSchedulesArgs {
    onlyPresets: boolean;
    presetIds: string[];
}

export interface GetActivePresetPrebuildSchedulesRow {
    id: string;
    presetId: string;
    cronExpression: string;
    desiredInstances: number;
}

export async function getActivePresetPrebuildSchedules(client: Client, args: GetActivePresetPrebuildSchedulesArgs): Promise<GetActivePresetPrebuildSchedulesRow[]> {
    const result = await client.query({
        text: getActivePresetPrebuildSchedulesQuery,
        values: [args.onlyPresets, args.presetIds],
        rowMode: "array"
    });
    return result.rows.map(row => {
        return {
            id: row[0],
            presetId: row[1],
            cronExpression: row[2],
            desiredInstances: row[3]
        };
    });
}

export const getLatestPrebuildStartBuildsQuery = `-- name: GetLatestPrebuildStartBuilds :many
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
    NOT $1::boolean
    -- An array computed once (an InitPlan), not IN (subquery): inside this OR, IN stays a hashed
    -- filter that the planner expects to keep a third of all workspaces, so it scanned every
    -- workspace and hashed every build for "no newer build" (124 ms for 500 presets at fleet L);
    -- = ANY(array) probes the workspaces' primary key, then each one's builds (27 ms).
    OR w.id = ANY(ARRAY(
      SELECT pb.workspace_id
      FROM workspace_builds pb
      WHERE pb.template_version_preset_id = ANY($2::uuid[])
    ))
  )`;

export interface GetLatestPrebuildStartBuildsArgs {
    onlyPresets: boolean;
    presetIds: string[];
}

export interface GetLatestPrebuildStartBuildsRow {
    workspaceId: string;
    workspaceName: string;
    templateId: string;
    templateVersionId: string;
    buildPresetId: string | null;
    currentPresetId: string;
    succeeded: boolean;
    failed: boolean;
    ready: boolean;
    countsTowardFailures: boolean;
    buildCreatedAt: Date;
    createdAt: Date;
}

export async function getLatestPrebuildStartBuilds(client: Client, args: GetLatestPrebuildStartBuildsArgs): Promise<GetLatestPrebuildStartBuildsRow[]> {
    const result = await client.query({
        text: getLatestPrebuildStartBuildsQuery,
        values: [args.onlyPresets, args.presetIds],
        rowMode: "array"
    });
    return result.rows.map(row => {
        return {
            workspaceId: row[0],
            workspaceName: row[1],
            templateId: row[2],
            templateVersionId: row[3],
            buildPresetId: row[4],
            currentPresetId: row[5],
            succeeded: row[6],
            failed: row[7],
            ready: row[8],
            countsTowardFailures: row[9],
            buildCreatedAt: row[10],
            createdAt: row[11]
        };
    });
}

export const countInProgressPrebuildsQuery = `-- name: CountInProgressPrebuilds :many
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
  AND (NOT $1::boolean OR wb.template_version_preset_id = ANY($2::uuid[]))
GROUP BY t.id, wb.template_version_id, wb.transition, wb.template_version_preset_id
ORDER BY t.id, wb.template_version_id, wb.transition, wb.template_version_preset_id`;

export interface CountInProgressPrebuildsArgs {
    onlyPresets: boolean;
    presetIds: string[];
}

export interface CountInProgressPrebuildsRow {
    templateId: string;
    templateVersionId: string;
    transition: string;
    presetId: string | null;
    count: number;
}

export async function countInProgressPrebuilds(client: Client, args: CountInProgressPrebuildsArgs): Promise<CountInProgressPrebuildsRow[]> {
    const result = await client.query({
        text: countInProgressPrebuildsQuery,
        values: [args.onlyPresets, args.presetIds],
        rowMode: "array"
    });
    return result.rows.map(row => {
        return {
            templateId: row[0],
            templateVersionId: row[1],
            transition: row[2],
            presetId: row[3],
            count: row[4]
        };
    });
}

export const countPendingNonActivePrebuildsQuery = `-- name: CountPendingNonActivePrebuilds :many
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
    AND (NOT $1::boolean OR wb.template_version_preset_id = ANY($2::uuid[]))
)
SELECT
  s.preset_id::uuid AS preset_id,
  (count(*) FILTER (WHERE s.kind = 'pending'))::integer AS count,
  (count(*) FILTER (WHERE s.kind = 'running'))::integer AS running_count,
  (count(*) FILTER (WHERE s.kind = 'canceled'))::integer AS canceled_count
FROM stale s
WHERE s.kind IS NOT NULL
GROUP BY s.preset_id
ORDER BY s.preset_id`;

export interface CountPendingNonActivePrebuildsArgs {
    onlyPresets: boolean;
    presetIds: string[];
}

export interface CountPendingNonActivePrebuildsRow {
    presetId: string;
    count: number;
    runningCount: number;
    canceledCount: number;
}

export async function countPendingNonActivePrebuilds(client: Client, args: CountPendingNonActivePrebuildsArgs): Promise<CountPendingNonActivePrebuildsRow[]> {
    const result = await client.query({
        text: countPendingNonActivePrebuildsQuery,
        values: [args.onlyPresets, args.presetIds],
        rowMode: "array"
    });
    return result.rows.map(row => {
        return {
            presetId: row[0],
            count: row[1],
            runningCount: row[2],
            canceledCount: row[3]
        };
    });
}

export const countInflightPrebuildJobsQuery = `-- name: CountInflightPrebuildJobs :one
SELECT count(*)::integer AS inflight
FROM provisioner_jobs pj
WHERE pj.job_status IN ('pending', 'running', 'canceling')
  AND pj.initiator_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid`;

export interface CountInflightPrebuildJobsRow {
    inflight: number;
}

export async function countInflightPrebuildJobs(client: Client): Promise<CountInflightPrebuildJobsRow | null> {
    const result = await client.query({
        text: countInflightPrebuildJobsQuery,
        values: [],
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
        inflight: row[0]
    };
}

export const listPresetsMissingRequiredParametersQuery = `-- name: ListPresetsMissingRequiredParameters :many
SELECT
  tvp.id AS preset_id,
  array_agg(tvpar.name ORDER BY tvpar.name)::text[] AS missing_parameters
FROM template_version_presets tvp
JOIN template_version_parameters tvpar ON tvpar.template_version_id = tvp.template_version_id
WHERE tvp.id = ANY($1::uuid[])
  AND tvpar.required
  AND tvpar.default_value = ''
  AND NOT EXISTS (
    SELECT 1
    FROM template_version_preset_parameters pp
    WHERE pp.template_version_preset_id = tvp.id AND pp.name = tvpar.name
  )
GROUP BY tvp.id
ORDER BY tvp.id`;

export interface ListPresetsMissingRequiredParametersArgs {
    presetIds: string[];
}

export interface ListPresetsMissingRequiredParametersRow {
    presetId: string;
    missingParameters: string[];
}

export async function listPresetsMissingRequiredParameters(client: Client, args: ListPresetsMissingRequiredParametersArgs): Promise<ListPresetsMissingRequiredParametersRow[]> {
    const result = await client.query({
        text: listPresetsMissingRequiredParametersQuery,
        values: [args.presetIds],
        rowMode: "array"
    });
    return result.rows.map(row => {
        return {
            presetId: row[0],
            missingParameters: row[1]
        };
    });
}


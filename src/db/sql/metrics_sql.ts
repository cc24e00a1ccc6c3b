import type { QueryArrayConfig, QueryArrayResult } from "pg";

interface Client {
    query: (config: QueryArrayConfig) => Promise<QueryArrayResult>;
}

export const getPrebuildMetricsQuery = `-- name: GetPrebuildMetrics :many

SELECT t.name AS template_name,
       p.name AS preset_name,
       o.name AS organization_name,
       count(*)::int AS created_count,
       (count(*) FILTER (WHERE pj.job_status = 'failed'))::int AS failed_count,
       (count(*) FILTER (
         WHERE w.owner_id <> 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
       ))::int AS claimed_count
FROM workspace_prebuild_builds wpb
JOIN workspaces w ON w.id = wpb.workspace_id
JOIN templates t ON t.id = w.template_id
JOIN template_version_presets p ON p.id = wpb.template_version_preset_id
JOIN provisioner_jobs pj ON pj.id = wpb.job_id
JOIN organizations o ON o.id = w.organization_id
WHERE wpb.build_number = 1 AND NOT t.deleted
GROUP BY t.name, p.name, o.name
ORDER BY t.name, p.name, o.name`;

export interface GetPrebuildMetricsRow {
    templateName: string;
    presetName: string;
    organizationName: string;
    createdCount: number;
    failedCount: number;
    claimedCount: number;
}

export async function getPrebuildMetrics(client: Client): Promise<GetPrebuildMetricsRow[]> {
    const result = await client.query({
        text: getPrebuildMetricsQuery,
        values: [],
        rowMode: "array"
    });
    return result.rows.map(row => {
        return {
            templateName: row[0],
            presetName: row[1],
            organizationName: row[2],
            createdCount: row[3],
            failedCount: row[4],
            claimedCount: row[5]
        };
    });
}

export const countPrebuildJobsByPresetQuery = `-- name: CountPrebuildJobsByPreset :many
SELECT wpb.template_version_preset_id AS preset_id,
       (count(*) FILTER (WHERE pj.job_status = 'pending'))::int AS queued,
       (count(*) FILTER (WHERE pj.job_status = 'running'))::int AS building,
       (count(*) FILTER (WHERE pj.job_status = 'canceled'))::int AS canceled,
       (count(*) FILTER (WHERE pj.job_status = 'failed'))::int AS failed
FROM workspace_prebuild_builds wpb
JOIN provisioner_jobs pj ON pj.id = wpb.job_id
WHERE wpb.template_version_preset_id IS NOT NULL AND wpb.transition = 'start'
GROUP BY wpb.template_version_preset_id
ORDER BY wpb.template_version_preset_id`;

export interface CountPrebuildJobsByPresetRow {
    presetId: string | null;
    queued: number;
    building: number;
    canceled: number;
    failed: number;
}

export async function countPrebuildJobsByPreset(client: Client): Promise<CountPrebuildJobsByPresetRow[]> {
    const result = await client.query({
        text: countPrebuildJobsByPresetQuery,
        values: [],
        rowMode: "array"
    });
    return result.rows.map(row => {
        return {
            presetId: row[0],
            queued: row[1],
            building: row[2],
            canceled: row[3],
            failed: row[4]
        };
    });
}

export const getRegularWorkspaceCreationsQuery = `-- name: GetRegularWorkspaceCreations :many
SELECT t.name AS template_name,
       COALESCE(p.name, '')::text AS preset_name,
       o.name AS organization_name,
       count(*)::int AS created_count
FROM workspace_builds wb
JOIN workspaces w ON w.id = wb.workspace_id
JOIN templates t ON t.id = w.template_id
JOIN organizations o ON o.id = w.organization_id
JOIN provisioner_jobs pj ON pj.id = wb.job_id
LEFT JOIN template_version_presets p ON p.id = wb.template_version_preset_id
WHERE wb.build_number = 1
  AND wb.transition = 'start'::workspace_transition
  AND wb.initiator_id <> 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
  AND pj.job_status = 'succeeded'::provisioner_job_status
  AND NOT t.deleted
GROUP BY t.name, p.name, o.name
ORDER BY t.name, p.name, o.name`;

export interface GetRegularWorkspaceCreationsRow {
    templateName: string;
    presetName: string;
    organizationName: string;
    createdCount: number;
}

export async function getRegularWorkspaceCreations(client: Client): Promise<GetRegularWorkspaceCreationsRow[]> {
    const result = await client.query({
        text: getRegularWorkspaceCreationsQuery,
        values: [],
        rowMode: "array"
    });
    return result.rows.map(row => {
        return {
            templateName: row[0],
            presetName: row[1],
            organizationName: row[2],
            createdCount: row[3]
        };
    });
}

export const getProvisionerJobQueueQuery = `-- name: GetProvisionerJobQueue :one
SELECT
  (count(*) FILTER (
    WHERE pj.job_status = 'pending'::provisioner_job_status
      AND pj.initiator_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
  ))::int AS pending_prebuilds,
  (count(*) FILTER (
    WHERE pj.job_status = 'pending'::provisioner_job_status
      AND pj.initiator_id <> 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
  ))::int AS pending_user,
  (count(*) FILTER (
    WHERE pj.job_status = 'running'::provisioner_job_status
      AND pj.initiator_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
  ))::int AS running_prebuilds,
  (count(*) FILTER (
    WHERE pj.job_status = 'running'::provisioner_job_status
      AND pj.initiator_id <> 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
  ))::int AS running_user,
  COALESCE(EXTRACT(EPOCH FROM now() - min(pj.created_at) FILTER (
    WHERE pj.job_status = 'pending'::provisioner_job_status
      AND pj.initiator_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
  )), 0)::float8 AS oldest_pending_prebuilds_seconds,
  COALESCE(EXTRACT(EPOCH FROM now() - min(pj.created_at) FILTER (
    WHERE pj.job_status = 'pending'::provisioner_job_status
      AND pj.initiator_id <> 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
  )), 0)::float8 AS oldest_pending_user_seconds
FROM provisioner_jobs pj
WHERE pj.job_status = ANY('{pending,running}'::provisioner_job_status[])`;

export interface GetProvisionerJobQueueRow {
    pendingPrebuilds: number;
    pendingUser: number;
    runningPrebuilds: number;
    runningUser: number;
    oldestPendingPrebuildsSeconds: number;
    oldestPendingUserSeconds: number;
}

export async function getProvisionerJobQueue(client: Client): Promise<GetProvisionerJobQueueRow | null> {
    const result = await client.query({
        text: getProvisionerJobQueueQuery,
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
        pendingPrebuilds: row[0],
        pendingUser: row[1],
        runningPrebuilds: row[2],
        runningUser: row[3],
        oldestPendingPrebuildsSeconds: row[4],
        oldestPendingUserSeconds: row[5]
    };
}


import type { QueryArrayConfig, QueryArrayResult } from "pg";

interface Client {
    query: (config: QueryArrayConfig) => Promise<QueryArrayResult>;
}

export const setTemplateCancelPolicyQuery = `-- name: SetTemplateCancelPolicy :one

UPDATE templates t
SET prebuild_cancel_policy = $1::text, updated_at = now()
FROM (
  SELECT p.id, p.prebuild_cancel_policy AS previous_policy
  FROM templates p
  WHERE p.id = $2::uuid
  FOR UPDATE
) old
WHERE t.id = old.id
  AND NOT t.deleted
RETURNING t.id, t.name, old.previous_policy::text AS previous_policy,
  t.prebuild_cancel_policy::text AS policy`;

export interface SetTemplateCancelPolicyArgs {
    policy: string;
    templateId: string;
}

export interface SetTemplateCancelPolicyRow {
    id: string;
    name: string;
    previousPolicy: string;
    policy: string;
}

export async function setTemplateCancelPolicy(client: Client, args: SetTemplateCancelPolicyArgs): Promise<SetTemplateCancelPolicyRow | null> {
    const result = await client.query({
        text: setTemplateCancelPolicyQuery,
        values: [args.policy, args.templateId],
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
        id: row[0],
        name: row[1],
        previousPolicy: row[2],
        policy: row[3]
    };
}

export const listRunningStaleFirstBuildJobsQuery = `-- name: ListRunningStaleFirstBuildJobs :many
SELECT pj.id AS job_id
FROM workspace_builds wb
JOIN provisioner_jobs pj ON pj.id = wb.job_id
JOIN workspaces w ON w.id = wb.workspace_id
JOIN templates t ON t.id = w.template_id
WHERE wb.template_version_preset_id = $1::uuid
  AND wb.initiator_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
  AND wb.build_number = 1
  AND wb.transition = 'start'
  AND (wb.template_version_id <> t.active_version_id OR t.deleted OR t.deprecated <> '')
  AND t.prebuild_cancel_policy = 'running'
  AND pj.job_status = 'running'
  AND pj.canceled_at IS NULL
ORDER BY pj.started_at, pj.id`;

export interface ListRunningStaleFirstBuildJobsArgs {
    presetId: string;
}

export interface ListRunningStaleFirstBuildJobsRow {
    jobId: string;
}

export async function listRunningStaleFirstBuildJobs(client: Client, args: ListRunningStaleFirstBuildJobsArgs): Promise<ListRunningStaleFirstBuildJobsRow[]> {
    const result = await client.query({
        text: listRunningStaleFirstBuildJobsQuery,
        values: [args.presetId],
        rowMode: "array"
    });
    return result.rows.map(row => {
        return {
            jobId: row[0]
        };
    });
}

export const listCanceledAcquiredFirstBuildsQuery = `-- name: ListCanceledAcquiredFirstBuilds :many
SELECT wb.workspace_id
FROM workspace_builds wb
JOIN provisioner_jobs pj ON pj.id = wb.job_id
JOIN workspaces w ON w.id = wb.workspace_id
JOIN templates t ON t.id = w.template_id
WHERE wb.template_version_preset_id = $1::uuid
  AND wb.initiator_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
  AND wb.build_number = 1
  AND wb.transition = 'start'
  AND (wb.template_version_id <> t.active_version_id OR t.deleted OR t.deprecated <> '')
  AND t.prebuild_cancel_policy = 'running'
  AND pj.canceled_at IS NOT NULL
  AND pj.started_at IS NOT NULL
  AND pj.completed_at IS NOT NULL
  AND pj.job_status = 'canceled'
  AND w.owner_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
  AND NOT w.deleted
  AND NOT EXISTS (
    SELECT 1
    FROM workspace_builds newer
    WHERE newer.workspace_id = wb.workspace_id AND newer.build_number > wb.build_number
  )
ORDER BY wb.workspace_id`;

export interface ListCanceledAcquiredFirstBuildsArgs {
    presetId: string;
}

export interface ListCanceledAcquiredFirstBuildsRow {
    workspaceId: string;
}

export async function listCanceledAcquiredFirstBuilds(client: Client, args: ListCanceledAcquiredFirstBuildsArgs): Promise<ListCanceledAcquiredFirstBuildsRow[]> {
    const result = await client.query({
        text: listCanceledAcquiredFirstBuildsQuery,
        values: [args.presetId],
        rowMode: "array"
    });
    return result.rows.map(row => {
        return {
            workspaceId: row[0]
        };
    });
}

export const listNonDefaultCancelPoliciesQuery = `-- name: ListNonDefaultCancelPolicies :many
SELECT o.name::text AS organization_name, t.name::text AS template_name,
       t.prebuild_cancel_policy::text AS policy
FROM templates t
JOIN organizations o ON o.id = t.organization_id
WHERE NOT t.deleted
  AND t.prebuild_cancel_policy <> 'pending'
ORDER BY o.name, t.name, t.id`;

export interface ListNonDefaultCancelPoliciesRow {
    organizationName: string;
    templateName: string;
    policy: string;
}

export async function listNonDefaultCancelPolicies(client: Client): Promise<ListNonDefaultCancelPoliciesRow[]> {
    const result = await client.query({
        text: listNonDefaultCancelPoliciesQuery,
        values: [],
        rowMode: "array"
    });
    return result.rows.map(row => {
        return {
            organizationName: row[0],
            templateName: row[1],
            policy: row[2]
        };
    });
}

export const lockInflightCapQuery = `-- name: LockInflightCap :exec
SELECT pg_advisory_xact_lock(hashtext('prebuildsd.max_inflight_jobs'))::text AS locked`;

export interface LockInflightCapRow {
    locked: string;
}

export async function lockInflightCap(client: Client): Promise<void> {
    await client.query({
        text: lockInflightCapQuery,
        values: [],
        rowMode: "array"
    });
}

export const countProvisionerJobsByTemplateQuery = `-- name: CountProvisionerJobsByTemplate :many
SELECT
  t.name::text AS template_name,
  pj.job_status::text AS status,
  (pj.initiator_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid)::boolean AS prebuilds,
  count(*)::integer AS jobs,
  COALESCE(EXTRACT(EPOCH FROM now() - min(pj.created_at)), 0)::float8 AS oldest_seconds
FROM provisioner_jobs pj
JOIN workspace_builds wb ON wb.job_id = pj.id
JOIN workspaces w ON w.id = wb.workspace_id
JOIN templates t ON t.id = w.template_id
WHERE pj.job_status = ANY('{pending,running}'::provisioner_job_status[])
GROUP BY t.name, pj.job_status, (pj.initiator_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid)
ORDER BY t.name, pj.job_status::text, 3`;

export interface CountProvisionerJobsByTemplateRow {
    templateName: string;
    status: string;
    prebuilds: boolean;
    jobs: number;
    oldestSeconds: number;
}

export async function countProvisionerJobsByTemplate(client: Client): Promise<CountProvisionerJobsByTemplateRow[]> {
    const result = await client.query({
        text: countProvisionerJobsByTemplateQuery,
        values: [],
        rowMode: "array"
    });
    return result.rows.map(row => {
        return {
            templateName: row[0],
            status: row[1],
            prebuilds: row[2],
            jobs: row[3],
            oldestSeconds: row[4]
        };
    });
}


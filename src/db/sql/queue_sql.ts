import type { QueryArrayConfig, QueryArrayResult } from "pg";

interface Client {
    query: (config: QueryArrayConfig) => Promise<QueryArrayResult>;
}

export const acquireProvisionerJobQuery = `-- name: AcquireProvisionerJob :one

UPDATE provisioner_jobs
SET started_at = now(),
    updated_at = now(),
    worker_id = $1::uuid
WHERE id = (
  SELECT pj.id
  FROM provisioner_jobs pj
  WHERE pj.started_at IS NULL
    AND pj.canceled_at IS NULL
    AND pj.completed_at IS NULL
    AND coalesce(pj.error, '') = ''
    AND pj.organization_id = $2::uuid
    AND pj.type = ANY($3::provisioner_job_type[])
    AND provisioner_tagset_contains($4::jsonb, pj.tags)
  ORDER BY pj.initiator_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid, pj.fair_rank,
    pj.created_at, pj.id
  FOR UPDATE SKIP LOCKED
  LIMIT 1
)
RETURNING id, created_at, started_at, organization_id, initiator_id, type, input, tags,
  coalesce((
    SELECT wb.transition::text FROM workspace_builds wb WHERE wb.job_id = provisioner_jobs.id
  ), '')::text AS transition`;

export interface AcquireProvisionerJobArgs {
    workerId: string;
    organizationId: string;
    types: string[];
    provisionerTags: any;
}

export interface AcquireProvisionerJobRow {
    id: string;
    createdAt: Date;
    startedAt: Date | null;
    organizationId: string;
    initiatorId: string;
    type: string;
    input: any;
    tags: any;
    transition: string;
}

export async function acquireProvisionerJob(client: Client, args: AcquireProvisionerJobArgs): Promise<AcquireProvisionerJobRow | null> {
    const result = await client.query({
        text: acquireProvisionerJobQuery,
        values: [args.workerId, args.organizationId, args.types, args.provisionerTags],
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
        createdAt: row[1],
        startedAt: row[2],
        organizationId: row[3],
        initiatorId: row[4],
        type: row[5],
        input: row[6],
        tags: row[7],
        transition: row[8]
    };
}

export const getWorkspaceBuildByJobIDQuery = `-- name: GetWorkspaceBuildByJobID :one
SELECT wb.id, wb.workspace_id, wb.template_version_id, wb.build_number, wb.transition,
       wb.template_version_preset_id, wb.initiator_id
FROM workspace_builds wb
WHERE wb.job_id = $1::uuid`;

export interface GetWorkspaceBuildByJobIDArgs {
    jobId: string;
}

export interface GetWorkspaceBuildByJobIDRow {
    id: string;
    workspaceId: string;
    templateVersionId: string;
    buildNumber: number;
    transition: string;
    templateVersionPresetId: string | null;
    initiatorId: string;
}

export async function getWorkspaceBuildByJobID(client: Client, args: GetWorkspaceBuildByJobIDArgs): Promise<GetWorkspaceBuildByJobIDRow | null> {
    const result = await client.query({
        text: getWorkspaceBuildByJobIDQuery,
        values: [args.jobId],
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
        workspaceId: row[1],
        templateVersionId: row[2],
        buildNumber: row[3],
        transition: row[4],
        templateVersionPresetId: row[5],
        initiatorId: row[6]
    };
}

export const insertWorkspaceResourceWithAgentsQuery = `-- name: InsertWorkspaceResourceWithAgents :exec
WITH resource AS (
  INSERT INTO workspace_resources (job_id, name)
  VALUES ($3::uuid, $4::text)
  RETURNING id
)
INSERT INTO workspace_agents (resource_id, name, lifecycle_state)
SELECT resource.id, agent.name, agent.lifecycle_state
FROM resource
CROSS JOIN unnest(
  $1::text[], $2::workspace_agent_lifecycle_state[]
) AS agent (name, lifecycle_state)`;

export interface InsertWorkspaceResourceWithAgentsArgs {
    agentNames: string[];
    lifecycleStates: string[];
    jobId: string;
    resourceName: string;
}

export async function insertWorkspaceResourceWithAgents(client: Client, args: InsertWorkspaceResourceWithAgentsArgs): Promise<void> {
    await client.query({
        text: insertWorkspaceResourceWithAgentsQuery,
        values: [args.agentNames, args.lifecycleStates, args.jobId, args.resourceName],
        rowMode: "array"
    });
}

export const completeProvisionerJobQuery = `-- name: CompleteProvisionerJob :one
UPDATE provisioner_jobs
SET completed_at = now(),
    updated_at = now(),
    error = CASE
      WHEN coalesce(error, '') <> '' THEN error
      WHEN canceled_at IS NOT NULL THEN NULL
      ELSE $1::text
    END,
    cancel_detail = CASE
      WHEN canceled_at IS NOT NULL AND coalesce(error, '') = '' THEN $1::text
    END
WHERE id = $2::uuid
  AND worker_id = $3::uuid
  AND started_at IS NOT NULL
  AND completed_at IS NULL
RETURNING id, job_status`;

export interface CompleteProvisionerJobArgs {
    error: string | null;
    jobId: string;
    workerId: string;
}

export interface CompleteProvisionerJobRow {
    id: string;
    jobStatus: string;
}

export async function completeProvisionerJob(client: Client, args: CompleteProvisionerJobArgs): Promise<CompleteProvisionerJobRow | null> {
    const result = await client.query({
        text: completeProvisionerJobQuery,
        values: [args.error, args.jobId, args.workerId],
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
        jobStatus: row[1]
    };
}

export const markWorkspaceDeletedByJobQuery = `-- name: MarkWorkspaceDeletedByJob :exec
UPDATE workspaces w
SET deleted = true,
    updated_at = now()
FROM workspace_builds wb
WHERE wb.job_id = $1::uuid
  AND wb.transition = 'delete'::workspace_transition
  AND w.id = wb.workspace_id
  AND NOT w.deleted
  AND NOT EXISTS (
    SELECT 1
    FROM workspace_builds later
    WHERE later.workspace_id = wb.workspace_id AND later.build_number > wb.build_number
  )`;

export interface MarkWorkspaceDeletedByJobArgs {
    jobId: string;
}

export async function markWorkspaceDeletedByJob(client: Client, args: MarkWorkspaceDeletedByJobArgs): Promise<void> {
    await client.query({
        text: markWorkspaceDeletedByJobQuery,
        values: [args.jobId],
        rowMode: "array"
    });
}

export const upsertProvisionerDaemonQuery = `-- name: UpsertProvisionerDaemon :exec
INSERT INTO provisioner_daemons (id, name, organization_id, tags, created_at, last_seen_at)
VALUES (
  $1::uuid, $2::text, $3::uuid, $4::jsonb, $5::timestamptz,
  $5::timestamptz
)
ON CONFLICT (id) DO UPDATE
SET name = excluded.name,
    tags = excluded.tags,
    last_seen_at = excluded.last_seen_at`;

export interface UpsertProvisionerDaemonArgs {
    id: string;
    name: string;
    organizationId: string;
    tags: any;
    now: Date;
}

export async function upsertProvisionerDaemon(client: Client, args: UpsertProvisionerDaemonArgs): Promise<void> {
    await client.query({
        text: upsertProvisionerDaemonQuery,
        values: [args.id, args.name, args.organizationId, args.tags, args.now],
        rowMode: "array"
    });
}

export const claimPrebuiltWorkspaceQuery = `-- name: ClaimPrebuiltWorkspace :one
SELECT claimed.id::uuid AS id, claimed.name::text AS name
FROM prebuild_claim_workspace(
  $1::uuid,
  $2::text,
  $3::timestamptz,
  $4::text,
  $5::timestamptz,
  $6::bigint,
  $7::boolean,
  $8::uuid
) AS claimed`;

export interface ClaimPrebuiltWorkspaceArgs {
    newUserId: string;
    newName: string;
    now: Date | null;
    autostartSchedule: string | null;
    nextStartAt: Date | null;
    ttl: string | null;
    allowPreviousVersion: boolean;
    presetId: string;
}

export interface ClaimPrebuiltWorkspaceRow {
    id: string;
    name: string;
}

export async function claimPrebuiltWorkspace(client: Client, args: ClaimPrebuiltWorkspaceArgs): Promise<ClaimPrebuiltWorkspaceRow | null> {
    const result = await client.query({
        text: claimPrebuiltWorkspaceQuery,
        values: [args.newUserId, args.newName, args.now, args.autostartSchedule, args.nextStartAt, args.ttl, args.allowPreviousVersion, args.presetId],
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
        name: row[1]
    };
}


import type { QueryArrayConfig, QueryArrayResult } from "pg";

interface Client {
    query: (config: QueryArrayConfig) => Promise<QueryArrayResult>;
}

export const cancelProvisionerJobQuery = `-- name: CancelProvisionerJob :one

WITH target AS (
  SELECT pj.id, pj.job_status, pj.started_at
  FROM provisioner_jobs pj
  WHERE pj.id = $1::uuid
  FOR UPDATE
),
canceled AS (
  UPDATE provisioner_jobs pj
  SET canceled_at = now(),
      completed_at = CASE WHEN target.started_at IS NULL THEN now() END,
      updated_at = now()
  FROM target
  WHERE pj.id = target.id
    AND target.job_status IN ('pending'::provisioner_job_status, 'running'::provisioner_job_status)
  RETURNING target.job_status AS previous_status
)
SELECT (CASE
  WHEN NOT EXISTS (SELECT 1 FROM target) THEN 'not_found'
  WHEN EXISTS (
    SELECT 1 FROM canceled WHERE previous_status = 'pending'::provisioner_job_status
  ) THEN 'canceled_while_pending'
  WHEN EXISTS (SELECT 1 FROM canceled) THEN 'cancel_requested_while_running'
  WHEN EXISTS (
    SELECT 1 FROM target
    WHERE job_status IN ('canceled'::provisioner_job_status, 'canceling'::provisioner_job_status)
  ) THEN 'already_canceled'
  ELSE 'already_completed'
END)::text AS result`;

export interface CancelProvisionerJobArgs {
    jobId: string;
}

export interface CancelProvisionerJobRow {
    result: string;
}

export async function cancelProvisionerJob(client: Client, args: CancelProvisionerJobArgs): Promise<CancelProvisionerJobRow | null> {
    const result = await client.query({
        text: cancelProvisionerJobQuery,
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
        result: row[0]
    };
}

export const heartbeatProvisionerJobsQuery = `-- name: HeartbeatProvisionerJobs :many
WITH daemon AS (
  INSERT INTO provisioner_daemons (id, name, organization_id, tags, created_at, last_seen_at)
  VALUES ($2::uuid, $3::text, $4::uuid, $5::jsonb, now(), now())
  ON CONFLICT (id) DO UPDATE
  SET name = excluded.name,
      tags = excluded.tags,
      last_seen_at = excluded.last_seen_at
)
UPDATE provisioner_jobs
SET updated_at = now()
WHERE id = ANY($1::uuid[])
  AND worker_id = $2::uuid
  AND completed_at IS NULL
RETURNING id, (canceled_at IS NOT NULL)::boolean AS canceled`;

export interface HeartbeatProvisionerJobsArgs {
    jobIds: string[];
    workerId: string;
    name: string;
    organizationId: string;
    tags: any;
}

export interface HeartbeatProvisionerJobsRow {
    id: string;
    canceled: boolean;
}

export async function heartbeatProvisionerJobs(client: Client, args: HeartbeatProvisionerJobsArgs): Promise<HeartbeatProvisionerJobsRow[]> {
    const result = await client.query({
        text: heartbeatProvisionerJobsQuery,
        values: [args.jobIds, args.workerId, args.name, args.organizationId, args.tags],
        rowMode: "array"
    });
    return result.rows.map(row => {
        return {
            id: row[0],
            canceled: row[1]
        };
    });
}

export const recoverHungProvisionerJobsQuery = `-- name: RecoverHungProvisionerJobs :many
WITH hung AS (
  UPDATE provisioner_jobs pj
  SET completed_at = now(),
      updated_at = now(),
      error = CASE WHEN pj.canceled_at IS NULL THEN $1::text END,
      cancel_detail = CASE WHEN pj.canceled_at IS NOT NULL THEN $2::text END
  WHERE pj.job_status IN ('running'::provisioner_job_status, 'canceling'::provisioner_job_status)
    AND pj.updated_at < now() - make_interval(secs => $3::float8)
  RETURNING pj.id, pj.job_status, pj.worker_id
)
SELECT hung.id AS job_id,
  hung.job_status,
  hung.worker_id,
  wb.workspace_id,
  w.name AS workspace_name,
  t.name AS template_name
FROM hung
LEFT JOIN workspace_builds wb ON wb.job_id = hung.id
LEFT JOIN workspaces w ON w.id = wb.workspace_id
LEFT JOIN templates t ON t.id = w.template_id
ORDER BY hung.id`;

export interface RecoverHungProvisionerJobsArgs {
    hungError: string;
    hungCancelDetail: string;
    hangTimeoutSeconds: number;
}

export interface RecoverHungProvisionerJobsRow {
    jobId: string;
    jobStatus: string;
    workerId: string | null;
    workspaceId: string | null;
    workspaceName: string | null;
    templateName: string | null;
}

export async function recoverHungProvisionerJobs(client: Client, args: RecoverHungProvisionerJobsArgs): Promise<RecoverHungProvisionerJobsRow[]> {
    const result = await client.query({
        text: recoverHungProvisionerJobsQuery,
        values: [args.hungError, args.hungCancelDetail, args.hangTimeoutSeconds],
        rowMode: "array"
    });
    return result.rows.map(row => {
        return {
            jobId: row[0],
            jobStatus: row[1],
            workerId: row[2],
            workspaceId: row[3],
            workspaceName: row[4],
            templateName: row[5]
        };
    });
}


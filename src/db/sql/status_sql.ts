import type { QueryArrayConfig, QueryArrayResult } from "pg";

interface Client {
    query: (config: QueryArrayConfig) => Promise<QueryArrayResult>;
}

export const listRecentReconciliationRunsQuery = `-- name: ListRecentReconciliationRuns :many

SELECT
  id, started_at, finished_at, outcome, replica, presets_total, presets_reconciled,
  actions_succeeded, actions_failed, actions_skipped, prebuilds_created, prebuilds_deleted,
  jobs_canceled, statements, error, kind, creates_held_back, inflight_jobs, inflight_cap
FROM prebuild_reconciliation_runs
ORDER BY finished_at DESC, id DESC
LIMIT $1::integer`;

export interface ListRecentReconciliationRunsArgs {
    maxRuns: number;
}

export interface ListRecentReconciliationRunsRow {
    id: string;
    startedAt: Date;
    finishedAt: Date;
    outcome: string;
    replica: string;
    presetsTotal: number;
    presetsReconciled: number;
    actionsSucceeded: number;
    actionsFailed: number;
    actionsSkipped: number;
    prebuildsCreated: number;
    prebuildsDeleted: number;
    jobsCanceled: number;
    statements: number;
    error: string | null;
    kind: string | null;
    createsHeldBack: number;
    inflightJobs: number | null;
    inflightCap: number | null;
}

export async function listRecentReconciliationRuns(client: Client, args: ListRecentReconciliationRunsArgs): Promise<ListRecentReconciliationRunsRow[]> {
    const result = await client.query({
        text: listRecentReconciliationRunsQuery,
        values: [args.maxRuns],
        rowMode: "array"
    });
    return result.rows.map(row => {
        return {
            id: row[0],
            startedAt: row[1],
            finishedAt: row[2],
            outcome: row[3],
            replica: row[4],
            presetsTotal: row[5],
            presetsReconciled: row[6],
            actionsSucceeded: row[7],
            actionsFailed: row[8],
            actionsSkipped: row[9],
            prebuildsCreated: row[10],
            prebuildsDeleted: row[11],
            jobsCanceled: row[12],
            statements: row[13],
            error: row[14],
            kind: row[15],
            createsHeldBack: row[16],
            inflightJobs: row[17],
            inflightCap: row[18]
        };
    });
}

export const countProvisionerQueueQuery = `-- name: CountProvisionerQueue :one
SELECT
  (count(*) FILTER (WHERE pj.job_status = 'pending'))::int AS pending,
  (count(*) FILTER (
    WHERE pj.job_status = 'pending'
      AND pj.initiator_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
  ))::int AS pending_prebuilds,
  (count(*) FILTER (WHERE pj.job_status = 'running'))::int AS running,
  (count(*) FILTER (
    WHERE pj.job_status = 'running'
      AND pj.initiator_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
  ))::int AS running_prebuilds
FROM provisioner_jobs pj
WHERE pj.completed_at IS NULL AND pj.job_status IN ('pending', 'running')`;

export interface CountProvisionerQueueRow {
    pending: number;
    pendingPrebuilds: number;
    running: number;
    runningPrebuilds: number;
}

export async function countProvisionerQueue(client: Client): Promise<CountProvisionerQueueRow | null> {
    const result = await client.query({
        text: countProvisionerQueueQuery,
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
        pending: row[0],
        pendingPrebuilds: row[1],
        running: row[2],
        runningPrebuilds: row[3]
    };
}

export const countPresetsInFleetQuery = `-- name: CountPresetsInFleet :one
SELECT count(*)::integer AS presets
FROM template_version_presets tvp
JOIN template_versions tv ON tv.id = tvp.template_version_id
JOIN templates t ON t.id = tv.template_id
JOIN organizations o ON o.id = t.organization_id
WHERE tvp.desired_instances IS NOT NULL`;

export interface CountPresetsInFleetRow {
    presets: number;
}

export async function countPresetsInFleet(client: Client): Promise<CountPresetsInFleetRow | null> {
    const result = await client.query({
        text: countPresetsInFleetQuery,
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
        presets: row[0]
    };
}


import type { QueryArrayConfig, QueryArrayResult } from "pg";

interface Client {
    query: (config: QueryArrayConfig) => Promise<QueryArrayResult>;
}

export const insertReconciliationRunQuery = `-- name: InsertReconciliationRun :exec

WITH inserted AS (
  INSERT INTO prebuild_reconciliation_runs (
    started_at, finished_at, outcome, replica, presets_total, presets_reconciled,
    actions_succeeded, actions_failed, actions_skipped, prebuilds_created, prebuilds_deleted,
    jobs_canceled, statements, error, kind, creates_held_back, inflight_jobs, inflight_cap
  )
  VALUES (
    $2::timestamptz, $3::timestamptz, $4::text, $5::text,
    $6::integer, $7::integer, $8::integer,
    $9::integer, $10::integer, $11::integer,
    $12::integer, $13::integer, $14::integer,
    $15::text, $16::text, $17::integer,
    $18::integer, $19::integer
  )
  RETURNING id
)
DELETE FROM prebuild_reconciliation_runs r
WHERE r.id <= (SELECT i.id FROM inserted i) - $1::integer`;

export interface InsertReconciliationRunArgs {
    keepRuns: number;
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

export async function insertReconciliationRun(client: Client, args: InsertReconciliationRunArgs): Promise<void> {
    await client.query({
        text: insertReconciliationRunQuery,
        values: [args.keepRuns, args.startedAt, args.finishedAt, args.outcome, args.replica, args.presetsTotal, args.presetsReconciled, args.actionsSucceeded, args.actionsFailed, args.actionsSkipped, args.prebuildsCreated, args.prebuildsDeleted, args.jobsCanceled, args.statements, args.error, args.kind, args.createsHeldBack, args.inflightJobs, args.inflightCap],
        rowMode: "array"
    });
}


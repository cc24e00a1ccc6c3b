// What a worker hands its handler, and what a handler hands back (issue #12).
import type pg from "pg";
import type { ProvisionerTags } from "./provisionerTags.ts";

export const JOB_TYPES = [
  "workspace_build",
  "template_version_import",
  "template_version_dry_run",
] as const;
export type ProvisionerJobType = (typeof JOB_TYPES)[number];

export type WorkspaceTransition = "start" | "stop" | "delete";

/** A job the worker acquired (its row as AcquireProvisionerJob returned it). */
export interface AcquiredJob {
  readonly id: string;
  readonly type: ProvisionerJobType;
  readonly organizationId: string;
  readonly initiatorId: string;
  /** provisioner_jobs.input (jsonb), as stored. */
  readonly input: unknown;
  readonly tags: ProvisionerTags;
  /** Database clock. */
  readonly createdAt: Date;
  /** When this worker acquired it (database clock). */
  readonly startedAt: Date;
  /** The workspace build's transition; null for a job that is not a workspace build. */
  readonly transition: WorkspaceTransition | null;
}

/** The status a job finished with, as job_status reads after completion. */
export type FinalStatus = "succeeded" | "failed" | "canceled";

/** What a handler returns; returning nothing means success. */
export interface JobResult {
  /** Set (non-empty): the job failed with this message. Ignored for a canceled job, whose
   *  error stays empty; the message is kept in cancel_detail instead. */
  readonly error?: string | null;
  /**
   * Writes that must commit together with the completion (a start build's resources and agents,
   * marking a deleted workspace), given the status the job finished with. Runs inside the
   * completion transaction on `client`; throwing rolls the completion back and the job fails with
   * that error instead. Not called when the job is no longer this worker's.
   */
  readonly onComplete?: (client: pg.PoolClient, status: FinalStatus) => Promise<void>;
}

/**
 * Runs one job. `signal` aborts when the job is canceled (its reason a `JobCanceledError`), when
 * the worker shuts down past its grace, or when the job is no longer this worker's; the handler
 * should then stop promptly. A handler still running `cancelGrace` after a cancellation is
 * force-aborted: the job is finished as canceled without it and its late result is ignored.
 * Throwing fails the job with the error's message (or records it as canceled, if it was).
 */
export type JobHandler = (
  job: AcquiredJob,
  signal: AbortSignal,
  // biome-ignore lint/suspicious/noConfusingVoidType: a handler may return nothing for success
) => Promise<JobResult | undefined | void>;

/** The abort reason a handler sees when its job is canceled. */
export class JobCanceledError extends Error {
  override readonly name = "JobCanceledError";
  readonly jobId: string;
  constructor(jobId: string) {
    super(`job ${jobId} was canceled`);
    this.jobId = jobId;
  }
}

/** The abort reason when the worker stops before the handler finished, or lost the job. */
export class JobAbandonedError extends Error {
  override readonly name = "JobAbandonedError";
}

// The notification channels of the job side (DESIGN.md §3): one home for their names.

/** Sent by the trigger of migration 0041, payload the job id, when a held job is canceled. */
export const JOB_CANCELED_CHANNEL = "provisioner_job_canceled";
/** Sent by the reconciler after it commits new jobs, payload {"organization_id","job_id"}. */
export const JOB_POSTED_CHANNEL = "provisioner_job_posted";

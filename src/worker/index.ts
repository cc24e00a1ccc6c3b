// prebuildsd/worker: the job side a platform imports (issue #12; docs/platform-contract.md).
//
//   import { startWorker, cancelJob, claimPrebuild } from "prebuildsd/worker";
//
// startWorker runs provisioner jobs with robust cancellation; cancelJob cancels one job (five
// results); claimPrebuild hands a ready prebuild to a user; workerMetrics puts the runtime's
// metrics on the platform's prom-client registry. A handler reads its build and, in onComplete,
// writes what the build made with the shipped queries below (docs/platform-contract.md).

// The queries a job handler runs (queries/queue.sql), as sqlc generated them: they take the pool
// or onComplete's client.
export {
  type GetWorkspaceBuildByJobIDArgs,
  type GetWorkspaceBuildByJobIDRow,
  getWorkspaceBuildByJobID,
  type InsertWorkspaceResourceWithAgentsArgs,
  insertWorkspaceResourceWithAgents,
  type MarkWorkspaceDeletedByJobArgs,
  markWorkspaceDeletedByJob,
} from "../db/sql/queue_sql.ts";
export { cancelJob } from "./cancelJob.ts";
export { CANCEL_RESULTS, type CancelResult, isCancelResult } from "./cancelResult.ts";
export { JOB_CANCELED_CHANNEL, JOB_POSTED_CHANNEL } from "./channels.ts";
export {
  type ClaimRequest,
  type ClaimResult,
  claimPrebuild,
  UnknownUserError,
  WorkspaceNameTakenError,
} from "./claimPrebuild.ts";
export {
  type AcquiredJob,
  type FinalStatus,
  JOB_TYPES,
  JobAbandonedError,
  JobCanceledError,
  type JobHandler,
  type JobResult,
  type ProvisionerJobType,
  type WorkspaceTransition,
} from "./job.ts";
export { InvalidJobIdError } from "./jobId.ts";
export {
  CANCEL_SOURCES,
  type CancelSource,
  JOB_OUTCOMES,
  type JobOutcome,
  type WorkerMetrics,
  workerMetrics,
} from "./metrics.ts";
export {
  normalizeTags,
  type ProvisionerTags,
  parseTags,
  tagsSatisfy,
  UNTAGGED,
} from "./provisionerTags.ts";
export {
  startWorker,
  UnknownOrganizationError,
  type Worker,
  type WorkerLogger,
  type WorkerOptions,
} from "./worker.ts";

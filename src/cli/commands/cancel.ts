// `prebuildsd cancel <job-id>... [--json]`: cancelJob for each id, in order (issue #12). Every id
// is checked before anything is written, so a malformed one (exit 2) cancels nothing.

import type pg from "pg";
import { ConfigError } from "../../config/configError.ts";
import { alignColumns } from "../../observe/columns.ts";
import { cancelJob } from "../../worker/cancelJob.ts";
import type { CancelResult } from "../../worker/cancelResult.ts";
import { InvalidJobIdError, isJobId } from "../../worker/jobId.ts";

export interface CancelOutcome {
  readonly jobId: string;
  readonly result: CancelResult;
}

const MEANING: Readonly<Record<CancelResult, string>> = {
  canceled_while_pending: "canceled (it was pending: no worker had it)",
  cancel_requested_while_running:
    "cancel requested (it was running: its worker was told and finishes it as canceled)",
  already_completed: "already finished (succeeded or failed): left as it was",
  already_canceled: "already canceled or canceling: nothing to do",
  not_found: "no such job",
};

/** Refuses the whole command (exit 2) when any id is not a UUID. */
export function checkJobIds(jobIds: readonly string[]): void {
  const bad = jobIds.find((id) => !isJobId(id));
  if (bad !== undefined) throw new ConfigError(new InvalidJobIdError(bad).message);
}

export async function cancelJobs(
  pool: pg.Pool,
  jobIds: readonly string[],
): Promise<CancelOutcome[]> {
  const outcomes: CancelOutcome[] = [];
  for (const jobId of jobIds) outcomes.push({ jobId, result: await cancelJob(pool, jobId) });
  return outcomes;
}

/** One line per job: `<id>  <result>  <what it means>`. */
export function describeCancels(outcomes: readonly CancelOutcome[]): string {
  return alignColumns(outcomes.map((o) => [o.jobId, o.result, MEANING[o.result]])).join("\n");
}

/** Exactly `{"results":[{"jobId","result"}]}`. */
export function cancelsJson(outcomes: readonly CancelOutcome[]): {
  readonly results: readonly { readonly jobId: string; readonly result: CancelResult }[];
} {
  return { results: outcomes.map(({ jobId, result }) => ({ jobId, result })) };
}

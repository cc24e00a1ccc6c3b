// Job ids are UUIDs; a malformed one is the caller's mistake, reported before any query.

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether `value` is a UUID in its usual 8-4-4-4-12 hex form (any case). */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}

export function isJobId(value: string): boolean {
  return isUuid(value);
}

/** A job id that is not a UUID (e.g. `prebuildsd cancel 42`). */
export class InvalidJobIdError extends Error {
  override readonly name = "InvalidJobIdError";
  readonly jobId: string;
  constructor(jobId: string) {
    super(
      `job id must be a UUID like 0b6e4a52-3c1f-4e8a-9d2b-7f5c1e0a9b34 (got ${JSON.stringify(jobId)})`,
    );
    this.jobId = jobId;
  }
}

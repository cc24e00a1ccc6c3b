// The five results of cancelJob (issue #12), as the CLI's --json prints them.

/**
 * What `cancelJob` did, exactly one of:
 * - `canceled_while_pending`: never acquired; now canceled (`canceled_at = completed_at = now`).
 * - `cancel_requested_while_running`: a worker holds it; `canceled_at` set (status `canceling`), the
 *   worker was notified on commit and finishes it as canceled.
 * - `already_completed`: it had succeeded or failed; nothing written.
 * - `already_canceled`: it was canceled or canceling; nothing written, no second notification.
 * - `not_found`: no job has that id.
 */
export type CancelResult = (typeof CANCEL_RESULTS)[number];

export const CANCEL_RESULTS = [
  "canceled_while_pending",
  "cancel_requested_while_running",
  "already_completed",
  "already_canceled",
  "not_found",
] as const;

export function isCancelResult(value: string): value is CancelResult {
  return (CANCEL_RESULTS as readonly string[]).includes(value);
}

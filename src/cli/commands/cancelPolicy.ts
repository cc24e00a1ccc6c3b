// `prebuildsd cancel-policy <template> <pending|retain|running>` (issue #13): parses and prints;
// the write is src/controls/cancelPolicy.ts. The policy is checked before the database is touched,
// and an unknown template changes nothing (both exit 2 with one line).
import { ConfigError } from "../../config/configError.ts";
import type { CancelPolicyChange } from "../../controls/cancelPolicy.ts";
import { CANCEL_POLICIES, type CancelPolicy, isCancelPolicy } from "../../plan/index.ts";

const MEANING: Readonly<Record<CancelPolicy, string>> = {
  pending: "stale versions' pending prebuild jobs are canceled; running ones finish",
  retain: "stale versions' prebuild jobs are never canceled; they finish and are then deleted",
  running:
    "stale versions' pending prebuild jobs are canceled and running ones are asked to cancel",
};

/** Refuses (exit 2) a policy that is not one of CANCEL_POLICIES. */
export function checkCancelPolicy(policy: string): CancelPolicy {
  if (!isCancelPolicy(policy)) {
    throw new ConfigError(
      `cancel policy must be one of ${CANCEL_POLICIES.join(", ")} (got ${JSON.stringify(policy)})`,
    );
  }
  return policy;
}

/** `template "t": cancel policy retain (was pending): <what it means>`. */
export function describeCancelPolicy(change: CancelPolicyChange): string {
  const template = JSON.stringify(change.templateName);
  const was = change.previous === change.policy ? " (unchanged)" : ` (was ${change.previous})`;
  return `template ${template}: cancel policy ${change.policy}${was}: ${MEANING[change.policy]}`;
}

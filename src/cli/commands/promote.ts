// `prebuildsd promote <template> <version>`: what the command prints; the write is
// src/controls/promote.ts.
import type { PromoteResult } from "../../controls/promote.ts";

export function describePromotion(result: PromoteResult): string {
  const what = `template ${JSON.stringify(result.templateName)} version ${JSON.stringify(result.versionName)} (${result.versionId})`;
  return result.alreadyActive
    ? `${what} is already the active version: nothing changed`
    : `promoted ${what}: the next cycle fills the new version's presets and retires the old version's prebuilds; the template's cancel policy (\`prebuildsd status\`) says what happens to their queued and running jobs`;
}

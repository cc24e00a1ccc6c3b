// `prebuildsd invalidate <template>`: what the command prints; the write is
// src/controls/invalidate.ts.
import type { InvalidateResult } from "../../controls/invalidate.ts";

export function describeInvalidation(result: InvalidateResult): string {
  const template = JSON.stringify(result.templateName);
  if (result.presetNames.length === 0) {
    return `template ${template}'s active version has no presets: nothing to invalidate`;
  }
  return [
    `invalidated ${result.presetNames.length} preset(s) of template ${template}; their prebuilds are replaced from the next cycle:`,
    ...result.presetNames.map((name) => `  ${name}`),
  ].join("\n");
}

// The two mechanical edits this project applies to sqlc-gen-typescript 0.1.3's output, and
// nothing else. The plugin's files break under this repository's compiler settings:
//   1. `import { QueryArrayConfig, QueryArrayResult } from "pg"` imports two types as values:
//      TS1484 under verbatimModuleSyntax, and under Node's type stripping a SyntaxError at load
//      time ("pg" has no such export). Fixed by `import type` (upstream issue
//      sqlc-dev/sqlc-gen-typescript#61, open).
//   2. `const row = result.rows[0]; return { id: row[0] }` is TS18048 under
//      noUncheckedIndexedAccess. Fixed by the guard the plugin's own `postgres` driver emits.
// Both run on the emulator's output and on real `sqlc generate` output alike, so the committed
// files are "what sqlc generates, adapted", whichever produced them.

const PLUGIN_IMPORT = 'import { QueryArrayConfig, QueryArrayResult } from "pg";';
const TYPE_IMPORT = 'import type { QueryArrayConfig, QueryArrayResult } from "pg";';
const FIRST_ROW = "    const row = result.rows[0];\n";
const GUARDED_FIRST_ROW = `${FIRST_ROW}    if (!row) {\n        return null;\n    }\n`;

export function adaptToProject(pluginOutput: string): string {
  if (!pluginOutput.includes(PLUGIN_IMPORT)) {
    throw new Error("not sqlc-gen-typescript pg output: the pg import line is missing");
  }
  return pluginOutput.replace(PLUGIN_IMPORT, TYPE_IMPORT).replaceAll(FIRST_ROW, GUARDED_FIRST_ROW);
}

/** The plugin's output back from an adapted file: lets `sqlc diff` judge the committed files. */
export function revertProjectAdaptations(adapted: string): string {
  const plugin = adapted
    .replace(TYPE_IMPORT, PLUGIN_IMPORT)
    .replaceAll(GUARDED_FIRST_ROW, FIRST_ROW);
  if (adaptToProject(plugin) !== adapted) {
    throw new Error("the file has edits beyond the project adaptations");
  }
  return plugin;
}

// Regenerates every src/db/sql/<file>_sql.ts from queries/*.sql against a migrated database:
// the emulator's equivalent of `sqlc generate` (rules in generate.ts's header).
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type pg from "pg";
import { analysisContext, analyzeQuery, type PluginQuery } from "./analyzeQuery.ts";
import { Catalog } from "./catalog.ts";
import { adaptToProject } from "./projectAdaptations.ts";
import { splitQueryFile } from "./queryFile.ts";
import { generatedFileName, renderPgFile } from "./renderPg.ts";

export class GenerateError extends Error {}

export interface Generation {
  /** Generated file name -> contents, for every queries file that generated cleanly. */
  readonly files: Map<string, string>;
  /** Queries files that failed, with every error found in them. */
  readonly failed: Map<string, string[]>;
}

/**
 * Generates code for every queries/*.sql (sorted, as sqlc reads them). A file with an error is
 * reported and left out, so one engineer's broken query does not block another's regeneration.
 */
export async function generateEach(client: pg.ClientBase, queriesDir: string): Promise<Generation> {
  const files = readdirSync(queriesDir)
    .filter((f) => f.endsWith(".sql"))
    .sort();
  const ctx = analysisContext(client, new Catalog(client));
  const out = new Map<string, string>();
  const failed = new Map<string, string[]>();
  const names = new Map<string, string>();
  for (const file of files) {
    const queries: PluginQuery[] = [];
    const errors: string[] = [];
    try {
      for (const statement of splitQueryFile(readFileSync(join(queriesDir, file), "utf8"), file)) {
        const seen = names.get(statement.name);
        if (seen) errors.push(`${file}: duplicate query name ${statement.name} (also in ${seen})`);
        names.set(statement.name, file);
        try {
          queries.push(await analyzeQuery(ctx, statement));
        } catch (e) {
          errors.push(`${file}: ${(e as Error).message}`);
        }
      }
      if (errors.length === 0 && queries.length > 0) {
        out.set(generatedFileName(file), adaptToProject(renderPgFile(queries)));
      }
    } catch (e) {
      errors.push(`${file}: ${(e as Error).message}`);
    }
    if (errors.length > 0) failed.set(file, errors);
  }
  return { files: out, failed };
}

/** Like generateEach, but any error fails the whole run (the check test, the test of the test). */
export async function generateAll(
  client: pg.ClientBase,
  queriesDir: string,
): Promise<Map<string, string>> {
  const { files, failed } = await generateEach(client, queriesDir);
  if (failed.size > 0) throw new GenerateError([...failed.values()].flat().join("\n"));
  return files;
}

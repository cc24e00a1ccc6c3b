// Compares committed generated files with freshly generated ones and says what differs, in
// words that name the fix.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const FIX = "run `npm run sqlc:generate` and commit src/db/sql";

/** Every committed src/db/sql/*_sql.ts, by file name. */
export function readCommitted(generatedDir: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const file of readdirSync(generatedDir)
    .filter((f) => f.endsWith("_sql.ts"))
    .sort()) {
    files.set(file, readFileSync(join(generatedDir, file), "utf8"));
  }
  return files;
}

function firstDifference(expected: string, actual: string): string {
  const want = expected.split("\n");
  const got = actual.split("\n");
  for (let i = 0; i < Math.max(want.length, got.length); i++) {
    if (want[i] !== got[i]) {
      return `line ${i + 1}: committed ${JSON.stringify(got[i] ?? "<end of file>")}, generated ${JSON.stringify(want[i] ?? "<end of file>")}`;
    }
  }
  return "identical";
}

/** Problems, one line each; empty when the committed files are exactly what generation gives. */
export function compareGenerated(
  committed: ReadonlyMap<string, string>,
  generated: ReadonlyMap<string, string>,
): string[] {
  const problems: string[] = [];
  for (const [file, contents] of generated) {
    const current = committed.get(file);
    if (current === undefined) {
      problems.push(
        `src/db/sql/${file} is missing (its queries file has no generated code): ${FIX}`,
      );
    } else if (current !== contents) {
      problems.push(
        `src/db/sql/${file} is stale or edited by hand (${firstDifference(contents, current)}): ${FIX}`,
      );
    }
  }
  for (const file of committed.keys()) {
    if (!generated.has(file)) {
      problems.push(`src/db/sql/${file} has no queries file: delete it or ${FIX}`);
    }
  }
  return problems;
}

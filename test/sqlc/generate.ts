// `npm run sqlc:generate`: writes src/db/sql/<file>_sql.ts for every queries/<file>.sql.
//
// Where `sqlc` is on PATH this runs `sqlc generate` (sqlc.yaml: sqlc-gen-typescript 0.1.3, driver
// pg) and applies projectAdaptations.ts. Elsewhere (`--emulate` forces it) it emulates that plugin
// against a live, freshly migrated database: TEST_DATABASE_URL's server when set, else an embedded
// PostgreSQL. The emulator reproduces the plugin's output shape byte for byte (renderPg.ts) and
// sqlc's analysis by these rules, which the query files must follow (violations are errors that
// name the fix). Statements are parsed by PostgreSQL's own parser (libpg-query, the pg_query
// library sqlc parses with), and walked in sqlc's order (pgAst.ts):
//
// Statements  `-- name: Foo :one|:many|:exec` on its own line; other sqlc commands are refused
//   (the pg driver of 0.1.3 does not generate them). Text as sqlc rewrites it: the statement
//   from after the previous `;`, trimmed, lines starting with `--` dropped (the doc comments),
//   `;` dropped. No backtick, backslash or `${` (the plugin pastes the text into a template
//   literal unescaped).
// Parameters  `@name`, `sqlc.arg(name)` (one line, no spaces) or `sqlc.narg(name)`; no `$1`.
//   Numbered like sqlc: one number per name, in the order sqlc's AST walk first meets them,
//   which is text order except that a statement's WITH queries come after its body, an UPDATE's
//   FROM after its WHERE, and OFFSET before LIMIT (namedParameters.ts). Where sqlc first meets a
//   parameter it must be cast (`@now::timestamptz`, `@ids::uuid[]`): sqlc types a parameter from
//   that cast and calls it NOT NULL; `sqlc.narg` makes it `| null`. PostgreSQL's own inference
//   (ParameterDescription) must agree with the cast, else cast every occurrence. `@x` is a
//   prefix operator to the parser: where a tighter operator follows (`@x::jsonb - 'k'` reads as
//   `@(x::jsonb - 'k')`, which sqlc would take as one parameter), parenthesise: `(@x::jsonb) - 'k'`.
// Columns  Names and types come from PostgreSQL's RowDescription for the statement (Parse +
//   Describe, nothing executes). Each output item must be one of
//     - a plain column reference `col` / `t.col` (optionally `AS name`): NOT NULL when it resolves
//       (PostgreSQL reports the source table and attribute, through subqueries and CTEs) to a
//       NOT NULL table column, unless its qualifier is a relation on the nullable side of a
//       LEFT JOIN (then nullable; unqualified columns are refused in a query with a LEFT JOIN;
//       RIGHT/FULL joins are refused). A column of a view follows the same rules applied to
//       the view's definition, where an unresolved item also counts as NOT NULL when it is
//       count(...) or a COALESCE with a literal argument; anything else in a view is nullable.
//       A column of a subquery or CTE that is an expression there is nullable.
//     - an explicit cast with a name, `<expr>::type AS name`: NOT NULL, as sqlc assumes for
//       every cast (unless the operand is the NULL literal) — so COALESCE a value that can be
//       NULL before casting it, or select it as a plain column.
//   Any other expression is refused: sqlc types uncast expressions from its own catalog (e.g.
//   "boolean", "bigint"), which the plugin maps differently than PostgreSQL's type names.
// Types  The plugin's table: int2/int4/float4/float8/oid -> number, bool -> boolean, bytea ->
//   Buffer, date/time/timestamp(tz) -> Date, json/jsonb -> any, arrays -> T[], everything else
//   (uuid, text, varchar, int8, numeric, enums) -> string; interval, point, circle are refused.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { startEmbeddedPostgres } from "../../src/db/embeddedPostgres.ts";
import { migrate } from "../../src/db/migrate.ts";
import { projectRoot } from "../../src/projectRoot.ts";
import { databaseUrl } from "../harness/databaseUrl.ts";
import { generateEach } from "./codegen.ts";
import { adaptToProject } from "./projectAdaptations.ts";
import { generatedFileName } from "./renderPg.ts";

export const QUERIES_DIR = join(projectRoot, "queries");
export const GENERATED_DIR = join(projectRoot, "src", "db", "sql");

/** Runs `fn` with a client on a new, migrated database that is dropped afterwards. */
export async function withMigratedDatabase<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const fromEnv = process.env.TEST_DATABASE_URL;
  const server = fromEnv
    ? { url: fromEnv, stop: async () => {} }
    : await startEmbeddedPostgres({
        dataDir: await mkdtemp(join(tmpdir(), "prebuildsd-sqlc-pg-")),
        persistent: false,
      });
  const name = `prebuildsd_sqlc_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
    const client = new pg.Client({ connectionString: databaseUrl(server.url, name) });
    await client.connect();
    try {
      await migrate(client);
      return await fn(client);
    } finally {
      await client.end();
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    }
  } finally {
    await admin.end();
    await server.stop();
  }
}

export function sqlcOnPath(): boolean {
  return spawnSync("sqlc", ["version"], { stdio: "ignore" }).status === 0;
}

/**
 * Writes `files` into src/db/sql, and removes generated files whose queries file is gone (but
 * not those of queries files that failed: their last good code stays until they are fixed).
 */
async function writeGenerated(files: Map<string, string>, failed: Iterable<string>): Promise<void> {
  const keep = new Set([...failed].map(generatedFileName));
  for (const existing of await readdir(GENERATED_DIR).catch(() => [] as string[])) {
    if (existing.endsWith("_sql.ts") && !files.has(existing) && !keep.has(existing)) {
      await rm(join(GENERATED_DIR, existing));
    }
  }
  for (const [file, contents] of files) await writeFile(join(GENERATED_DIR, file), contents);
}

async function runSqlc(): Promise<void> {
  const result = spawnSync("sqlc", ["generate"], { cwd: projectRoot, stdio: "inherit" });
  if (result.status !== 0) throw new Error("sqlc generate failed");
  for (const file of await readdir(GENERATED_DIR)) {
    if (!file.endsWith("_sql.ts")) continue;
    const path = join(GENERATED_DIR, file);
    await writeFile(path, adaptToProject(readFileSync(path, "utf8")));
  }
}

async function main(): Promise<void> {
  await mkdir(GENERATED_DIR, { recursive: true });
  if (!process.argv.includes("--emulate") && sqlcOnPath()) {
    await runSqlc();
    console.log("sqlc generate + project adaptations: done");
    return;
  }
  const { files, failed } = await withMigratedDatabase((client) =>
    generateEach(client, QUERIES_DIR),
  );
  await writeGenerated(files, failed.keys());
  if (files.size > 0) {
    console.log(`generated ${[...files.keys()].map((f) => `src/db/sql/${f}`).join(", ")}`);
  }
  if (failed.size > 0) {
    console.error(`not generated (fix and rerun):\n${[...failed.values()].flat().join("\n")}`);
    process.exitCode = 1;
  }
}

if (import.meta.main) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}

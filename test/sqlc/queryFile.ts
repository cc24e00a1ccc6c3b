// Splits a queries/*.sql file into its annotated statements the way sqlc does: each statement
// runs from just after the previous top-level `;` to its own, and carries a `-- name: Foo :cmd`
// comment line.
import { statementRanges, Utf8Text } from "./pgAst.ts";

export type QueryCommand = ":one" | ":many" | ":exec";

export interface AnnotatedStatement {
  readonly name: string;
  readonly cmd: QueryCommand;
  /** The statement's source, from after the previous `;` up to (not including) its own `;`. */
  readonly raw: string;
  /** 1-based line of the `-- name:` comment, for error messages. */
  readonly line: number;
}

export class QueryFileError extends Error {}

const SUPPORTED: readonly string[] = [":one", ":many", ":exec"];
const SQLC_COMMANDS = [
  ":one",
  ":many",
  ":exec",
  ":execrows",
  ":execresult",
  ":execlastid",
  ":copyfrom",
  ":batchexec",
  ":batchmany",
  ":batchone",
];

/** sqlc's metadata.ParseQueryNameAndType for `--` comments. */
function nameAndCommand(raw: string, file: string, firstLine: number): AnnotatedStatement | null {
  const lines = raw.split("\n");
  for (const [n, line] of lines.entries()) {
    if (!line.startsWith("--")) continue;
    const rest = line.slice(2);
    if (!rest.trim().startsWith("name") || !rest.includes(":")) continue;
    const where = `${file}:${firstLine + n}`;
    if (!rest.startsWith(" name: "))
      throw new QueryFileError(`${where}: invalid metadata: ${line}`);
    const part = line.trim().split(" ");
    if (part.length === 3) {
      throw new QueryFileError(`${where}: missing query type (:one, :many or :exec): ${line}`);
    }
    if (part.length !== 4) throw new QueryFileError(`${where}: invalid query comment: ${line}`);
    const name = part[2] as string;
    const cmd = (part[3] as string).trim();
    if (!SQLC_COMMANDS.includes(cmd)) {
      throw new QueryFileError(`${where}: invalid query type: ${cmd}`);
    }
    if (!SUPPORTED.includes(cmd)) {
      throw new QueryFileError(
        `${where}: ${name} uses ${cmd}; sqlc-gen-typescript 0.1.3's pg driver generates only :one, :many and :exec`,
      );
    }
    if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(name)) {
      throw new QueryFileError(`${where}: invalid query name ${JSON.stringify(name)}`);
    }
    return { name, cmd: cmd as QueryCommand, raw, line: firstLine + n };
  }
  return null;
}

/** The file's statements, each from after the previous `;` to its own (sqlc's RawStmt ranges). */
export function splitQueryFile(text: string, file: string): AnnotatedStatement[] {
  const source = new Utf8Text(text);
  let ranges: { lo: number; hi: number }[];
  try {
    ranges = statementRanges(text);
  } catch (e) {
    throw new QueryFileError(`${file}: ${(e as Error).message}`);
  }
  return ranges.map(({ lo, hi }) => {
    const raw = source.slice(lo, hi);
    const firstLine = source.slice(0, lo).split("\n").length;
    const statement = nameAndCommand(raw, file, firstLine);
    if (!statement) {
      throw new QueryFileError(
        `${file}:${firstLine}: a statement without a "-- name: Foo :one|:many|:exec" comment line`,
      );
    }
    return statement;
  });
}

/**
 * sqlc's source.StripComments: drops lines that start with `--` (the name line included) or are
 * a whole `/* ... *\/` comment, after trimming the statement. Indented and trailing comments stay.
 */
export function stripComments(sql: string): string {
  const lines: string[] = [];
  for (const rawLine of sql.trim().split("\n")) {
    const t = rawLine.endsWith("\r") ? rawLine.slice(0, -1) : rawLine;
    if (t.startsWith("--")) continue;
    if (t.startsWith("/*") && t.endsWith("*/") && !t.startsWith("/*+")) continue;
    if (t.startsWith("#")) continue;
    lines.push(t);
  }
  return lines.join("\n");
}

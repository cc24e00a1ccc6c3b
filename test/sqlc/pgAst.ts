// PostgreSQL's own parser (libpg-query: the pg_query library sqlc itself parses with, built to
// WebAssembly) and the two things the emulator needs from its tree: sqlc's walk order and byte
// offsets. pg_query reports locations as byte offsets into the UTF-8 text.
import { loadModule, parseSync } from "libpg-query";

/** A parse-tree value as pg_query's JSON gives it: nodes, lists, plain fields. */
export type AstValue = unknown;
/** A node wrapper such as `{ "ColumnRef": { ... } }`. */
export type AstNode = Record<string, Record<string, unknown>>;

await loadModule();

export class SqlSyntaxError extends Error {}

/** The text as UTF-8 bytes, sliced by pg_query's byte offsets. */
export class Utf8Text {
  readonly text: string;
  readonly bytes: Buffer;
  constructor(text: string) {
    this.text = text;
    this.bytes = Buffer.from(text, "utf8");
  }
  slice(lo: number, hi = this.bytes.length): string {
    return this.bytes.subarray(lo, hi).toString("utf8");
  }
}

/**
 * Every statement of a text as a byte range from just after the previous `;` to its own, as sqlc
 * takes them (RawStmt.StmtLocation/StmtLen before PostgreSQL 18 moved a statement's location past
 * its leading comments, where sqlc's `-- name:` line lives).
 */
export function statementRanges(text: string): { lo: number; hi: number }[] {
  const size = Buffer.byteLength(text);
  let lo = 0;
  return (parseOrThrow(text).stmts ?? []).map((s) => {
    const hi = s.stmt_len ? (s.stmt_location ?? 0) + s.stmt_len : size;
    const range = { lo, hi };
    lo = hi + 1;
    return range;
  });
}

/** The one statement of `sql`, as its node wrapper (`{ SelectStmt: {...} }`). */
export function parseStatement(sql: string): AstNode {
  const stmts = parseOrThrow(sql).stmts ?? [];
  if (stmts.length !== 1 || !stmts[0]?.stmt) {
    throw new SqlSyntaxError(`expected one statement, found ${stmts.length}`);
  }
  return stmts[0].stmt as unknown as AstNode;
}

function parseOrThrow(sql: string) {
  try {
    return parseSync(sql);
  } catch (e) {
    throw new SqlSyntaxError(`syntax error: ${(e as Error).message}`);
  }
}

/** `{ Foo: {...} }` -> ["Foo", {...}]; anything else -> null. */
export function nodeOf(value: AstValue): [string, Record<string, unknown>] | null {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return null;
  const keys = Object.keys(value);
  if (keys.length !== 1) return null;
  const kind = keys[0] as string;
  if (!/^[A-Z]/.test(kind)) return null;
  return [kind, (value as AstNode)[kind] as Record<string, unknown>];
}

/** The node's fields if it is a `kind` node. */
export function fieldsIf(value: AstValue, kind: string): Record<string, unknown> | null {
  const node = nodeOf(value);
  return node && node[0] === kind ? node[1] : null;
}

/**
 * Visits every node wrapper in sqlc's walk order (internal/sql/astutils/rewrite.go: children in
 * struct field order, which is pg_query's JSON key order: a statement's WITH after its body, an
 * UPDATE's FROM after its WHERE, OFFSET before LIMIT). `visit` returns false to skip a subtree.
 */
export function walk(
  value: AstValue,
  visit: (kind: string, fields: Record<string, unknown>, parent: AstNode | null) => boolean,
  parent: AstNode | null = null,
): void {
  if (value === null || typeof value !== "object") return;
  if (Array.isArray(value)) {
    for (const item of value) walk(item, visit, parent);
    return;
  }
  const node = nodeOf(value);
  if (node) {
    if (!visit(node[0], node[1], parent)) return;
    for (const child of Object.values(node[1])) walk(child, visit, value as AstNode);
    return;
  }
  // An inline struct (a SelectStmt arm, a RangeVar relation, a TypeName): same walk, same parent.
  for (const child of Object.values(value)) walk(child, visit, parent);
}

/** The strings of a name list (`[{String:{sval:"a"}}, ...]`). */
export function names(list: unknown): string[] {
  if (!Array.isArray(list)) return [];
  return list.flatMap((item) => {
    const s = fieldsIf(item, "String");
    return s && typeof s.sval === "string" ? [s.sval] : [];
  });
}

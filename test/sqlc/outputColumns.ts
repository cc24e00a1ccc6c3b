// The output column list of a statement (its SELECT list or RETURNING list) read from its tokens,
// each item classified the way the emulator's nullability rules need: a plain column reference,
// an explicit cast, or any other expression; and which table aliases sit on the nullable side of
// a LEFT JOIN.

import { identName, keyword, SqlSyntaxError, type Token } from "./sqlTokens.ts";
import {
  clauses,
  DELETE_CLAUSES,
  INSERT_CLAUSES,
  insertSourceStart,
  type ParsedSql,
  type Range,
  SELECT_CLAUSES,
  type StatementShape,
  setOperationArms,
  statementShape,
  UPDATE_CLAUSES,
} from "./statementShape.ts";

export type ItemForm =
  /** `col`, `t.col`: sqlc takes type and NOT NULL from the column. */
  | { readonly kind: "plain"; readonly qualifier: string | null; readonly column: string }
  /** `<operand>::type`: sqlc assumes NOT NULL unless the operand is the NULL literal. */
  | { readonly kind: "cast"; readonly operandIsNull: boolean }
  /** `*` or `t.*`. */
  | { readonly kind: "star" }
  /** Anything else. */
  | {
      readonly kind: "expression";
      /** count(...), or COALESCE(...) with a literal argument: never NULL. */
      readonly neverNull: boolean;
    };

export interface OutputItem {
  /** The expression, without its alias. */
  readonly expr: Range;
  readonly alias: string | null;
  readonly form: ItemForm;
}

const NOT_COLUMNS = new Set([
  "NULL",
  "TRUE",
  "FALSE",
  "CURRENT_DATE",
  "CURRENT_TIME",
  "CURRENT_TIMESTAMP",
  "LOCALTIME",
  "LOCALTIMESTAMP",
  "CURRENT_USER",
  "SESSION_USER",
  "USER",
  "DEFAULT",
]);

// Keywords that act as operators: an operand containing one at its top level is not a primary.
const OPERATOR_KEYWORDS = new Set([
  "AND",
  "OR",
  "NOT",
  "IS",
  "ISNULL",
  "NOTNULL",
  "IN",
  "LIKE",
  "ILIKE",
  "SIMILAR",
  "BETWEEN",
  "COLLATE",
  "AT",
  "OVERLAPS",
]);

function isName(t: Token | undefined): boolean {
  return (t?.kind === "ident" && !NOT_COLUMNS.has(keyword(t))) || t?.kind === "quotedIdent";
}

/** Depth-0 token indices of `r`, treating CASE ... END as one bracket group. */
function topLevel(p: ParsedSql, r: Range): number[] {
  const out: number[] = [];
  let caseDepth = 0;
  for (const i of p.depthZero(r)) {
    const k = keyword(p.sig[i]);
    if (k === "CASE") caseDepth++;
    if (caseDepth === 0) out.push(i);
    if (k === "END" && caseDepth > 0) caseDepth--;
  }
  return out;
}

function isLiteral(t: Token | undefined): boolean {
  return (
    t?.kind === "number" || t?.kind === "string" || keyword(t) === "TRUE" || keyword(t) === "FALSE"
  );
}

function classify(p: ParsedSql, expr: Range): ItemForm {
  const n = expr.hi - expr.lo;
  const t = (k: number) => p.sig[expr.lo + k];
  const last = p.sig[expr.hi - 1];
  if (last?.kind === "op" && last.text === "*") return { kind: "star" };
  if (n === 1 && isName(t(0))) {
    return { kind: "plain", qualifier: null, column: identName(t(0) as Token) };
  }
  if (n === 3 && isName(t(0)) && p.isPunct(expr.lo + 1, ".") && isName(t(2))) {
    return {
      kind: "plain",
      qualifier: identName(t(0) as Token),
      column: identName(t(2) as Token),
    };
  }
  const top = topLevel(p, expr);
  const casts = top.filter((i) => p.isPunct(i, "::"));
  const lastCast = casts[casts.length - 1];
  if (lastCast !== undefined) {
    const operand = top.filter((i) => i < lastCast);
    const operandIsPrimary = operand.every(
      (i) => p.sig[i]?.kind !== "op" && !OPERATOR_KEYWORDS.has(keyword(p.sig[i])),
    );
    const typeTokens = top.filter((i) => i > lastCast);
    const typeIsName = typeTokens.every(
      (i) => isName(p.sig[i]) || keyword(p.sig[i]) !== "" || p.isOpen(i) || p.isPunct(i, "."),
    );
    if (operandIsPrimary && typeIsName) {
      const operandIsNull = operand.length === 1 && keyword(p.sig[operand[0] as number]) === "NULL";
      return { kind: "cast", operandIsNull };
    }
  }
  // A single function call spanning the whole expression.
  const fn = keyword(t(0));
  if (p.isPunct(expr.lo + 1, "(") && p.close(expr.lo + 1) === expr.hi - 1) {
    if (fn === "COUNT") return { kind: "expression", neverNull: true };
    if (fn === "COALESCE") {
      const args = p.depthZero({ lo: expr.lo + 2, hi: expr.hi - 1 });
      const neverNull = args.some(
        (i) =>
          isLiteral(p.sig[i]) &&
          (p.isPunct(i - 1, ",") || p.isPunct(i - 1, "(")) &&
          (p.isPunct(i + 1, ",") || p.isPunct(i + 1, ")")),
      );
      return { kind: "expression", neverNull };
    }
  }
  return { kind: "expression", neverNull: false };
}

function splitItems(p: ParsedSql, r: Range): OutputItem[] {
  const items: OutputItem[] = [];
  let lo = r.lo;
  const finish = (hi: number) => {
    if (hi <= lo) throw new SqlSyntaxError("empty output column");
    let exprHi = hi;
    let alias: string | null = null;
    const aliasToken = p.sig[hi - 1];
    if (hi - lo >= 3 && keyword(p.sig[hi - 2]) === "AS" && aliasToken) {
      alias = identName(aliasToken);
      exprHi = hi - 2;
    }
    const expr = { lo, hi: exprHi };
    items.push({ expr, alias, form: classify(p, expr) });
  };
  for (const i of topLevel(p, r)) {
    if (p.isPunct(i, ",")) {
      finish(i);
      lo = i + 1;
    }
  }
  finish(r.hi);
  return items;
}

function selectCore(p: ParsedSql, main: Range): Range {
  const first = setOperationArms(p, main)[0] as Range;
  const shape = statementShape(p, first);
  if (shape.main.lo !== first.lo || shape.ctes.length > 0) return selectCore(p, shape.main);
  return first;
}

/** The statement's output items, or null when it returns no rows (DML without RETURNING). */
export function outputItems(p: ParsedSql, shape: StatementShape): OutputItem[] | null {
  const list = outputList(p, shape);
  return list ? splitItems(p, list) : null;
}

function outputList(p: ParsedSql, shape: StatementShape): Range | null {
  const main = shape.main;
  switch (shape.kind) {
    case "select": {
      const core = selectCore(p, main);
      const select = clauses(p, core, SELECT_CLAUSES).find((c) => c.keyword === "SELECT");
      if (!select) return null;
      let lo = select.body.lo;
      if (keyword(p.sig[lo]) === "ALL") lo++;
      if (keyword(p.sig[lo]) === "DISTINCT") {
        lo++;
        if (keyword(p.sig[lo]) === "ON" && p.isPunct(lo + 1, "(")) lo = p.close(lo + 1) + 1;
      }
      return { lo, hi: select.body.hi };
    }
    case "insert": {
      const source = insertSourceStart(p, main);
      return (
        clauses(p, { lo: source, hi: main.hi }, INSERT_CLAUSES).find(
          (c) => c.keyword === "RETURNING",
        )?.body ?? null
      );
    }
    case "update":
      return clauses(p, main, UPDATE_CLAUSES).find((c) => c.keyword === "RETURNING")?.body ?? null;
    case "delete":
      return clauses(p, main, DELETE_CLAUSES).find((c) => c.keyword === "RETURNING")?.body ?? null;
    default:
      return null;
  }
}

/** The range listing the statement's relations: FROM (SELECT, UPDATE) or USING (DELETE). */
function relationList(p: ParsedSql, shape: StatementShape): Range | null {
  switch (shape.kind) {
    case "select":
      return (
        clauses(p, selectCore(p, shape.main), SELECT_CLAUSES).find((c) => c.keyword === "FROM")
          ?.body ?? null
      );
    case "update":
      return clauses(p, shape.main, UPDATE_CLAUSES).find((c) => c.keyword === "FROM")?.body ?? null;
    case "delete":
      return (
        clauses(p, shape.main, DELETE_CLAUSES).find((c) => c.keyword === "USING")?.body ?? null
      );
    default:
      return null;
  }
}

const NOT_ALIASES = new Set([
  "ON",
  "USING",
  "JOIN",
  "LEFT",
  "RIGHT",
  "FULL",
  "INNER",
  "CROSS",
  "NATURAL",
  "OUTER",
  "LATERAL",
  "WHERE",
  "GROUP",
  "ORDER",
  "LIMIT",
  "OFFSET",
  "FOR",
  "WINDOW",
  "HAVING",
  "UNION",
  "INTERSECT",
  "EXCEPT",
  "RETURNING",
  "SET",
  "TABLESAMPLE",
  "WITH",
  "FETCH",
]);

export interface JoinNullability {
  /** Aliases (or bare relation names) on the nullable side of a LEFT JOIN. */
  readonly nullable: ReadonlySet<string>;
}

/**
 * Which relations of the statement's FROM/USING list a LEFT JOIN makes nullable. RIGHT and FULL
 * joins are refused: the emulator does not infer nullability through them.
 */
export function joinNullability(p: ParsedSql, shape: StatementShape): JoinNullability {
  const nullable = new Set<string>();
  const list = relationList(p, shape);
  if (list) scanRelations(p, list, false, nullable);
  return { nullable };
}

function scanRelations(p: ParsedSql, r: Range, allNullable: boolean, out: Set<string>): void {
  const idx = p.depthZero(r);
  let nextIsNullable = false;
  let expectItem = true;
  for (let n = 0; n < idx.length; n++) {
    const i = idx[n] as number;
    const k = keyword(p.sig[i]);
    if (k === "RIGHT" || k === "FULL") {
      throw new SqlSyntaxError(
        "RIGHT/FULL JOIN: the sqlc emulator infers nullability only through LEFT JOIN; rewrite it as a LEFT JOIN",
      );
    }
    if (k === "LEFT") {
      nextIsNullable = true;
      continue;
    }
    if (k === "JOIN" || p.isPunct(i, ",")) {
      expectItem = true;
      continue;
    }
    if (!expectItem || k === "LATERAL" || k === "OUTER" || k === "INNER" || k === "CROSS") continue;
    expectItem = false;
    const itemNullable = allNullable || nextIsNullable;
    nextIsNullable = false;
    let name: string;
    let after = n + 1;
    if (p.isPunct(i, "(") && !p.opensQuery(i)) {
      scanRelations(p, { lo: i + 1, hi: p.close(i) }, itemNullable, out);
      continue;
    }
    if (p.isPunct(i, "(")) {
      name = "";
    } else {
      // relation name, schema.relation, or a function call
      name = identName(p.sig[i] as Token);
      while (p.isPunct(idx[after] as number, ".")) {
        name = identName(p.sig[idx[after + 1] as number] as Token);
        after += 2;
      }
      if (p.isPunct(idx[after] as number, "(")) {
        after++;
      }
    }
    let aliasAt = idx[after];
    if (keyword(p.sig[aliasAt as number]) === "AS") aliasAt = idx[after + 1];
    const aliasToken = aliasAt === undefined ? undefined : p.sig[aliasAt];
    if (
      aliasToken &&
      (aliasToken.kind === "quotedIdent" ||
        (aliasToken.kind === "ident" && !NOT_ALIASES.has(keyword(aliasToken))))
    ) {
      name = identName(aliasToken);
    }
    if (itemNullable && name !== "") out.add(name);
  }
}

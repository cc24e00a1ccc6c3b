// The clause structure of one SQL statement, found on its tokens: WITH queries, the main
// statement's kind, and the ranges of its clauses. Enough for the sqlc emulator to number named
// parameters in sqlc's order and to find the output column list; not a full parser.
import {
  keyword,
  matchBrackets,
  SqlSyntaxError,
  significant,
  type Token,
  tokenize,
} from "./sqlTokens.ts";

/** Half-open range [lo, hi) of indices into `ParsedSql.sig`. */
export interface Range {
  readonly lo: number;
  readonly hi: number;
}

export class ParsedSql {
  readonly text: string;
  readonly sig: Token[];
  readonly partner: Map<number, number>;
  constructor(text: string) {
    this.text = text;
    this.sig = significant(tokenize(text));
    this.partner = matchBrackets(this.sig);
  }

  get whole(): Range {
    return { lo: 0, hi: this.sig.length };
  }

  isOpen(i: number): boolean {
    const t = this.sig[i];
    return t?.kind === "punct" && (t.text === "(" || t.text === "[");
  }

  isPunct(i: number, text: string): boolean {
    const t = this.sig[i];
    return t?.kind === "punct" && t.text === text;
  }

  /** Index of the bracket matching the one at `i`. */
  close(i: number): number {
    const j = this.partner.get(i);
    if (j === undefined) throw new SqlSyntaxError(`no bracket at token ${i}`);
    return j;
  }

  /** Indices of the tokens of `r` at bracket depth 0 (a bracket group is reported by its opener). */
  depthZero(r: Range): number[] {
    const out: number[] = [];
    for (let i = r.lo; i < r.hi; i++) {
      out.push(i);
      if (this.isOpen(i)) i = this.close(i);
    }
    return out;
  }

  /** The source text of a range. */
  source(r: Range): string {
    const first = this.sig[r.lo];
    const last = this.sig[r.hi - 1];
    if (!first || !last || r.hi <= r.lo) return "";
    return this.text.slice(first.start, last.end);
  }

  /** Whether the bracket group opening at `i` holds a query (a subquery) rather than an expression. */
  opensQuery(i: number): boolean {
    return ["SELECT", "WITH", "VALUES", "INSERT", "UPDATE", "DELETE"].includes(
      keyword(this.sig[i + 1]),
    );
  }
}

export type StatementKind = "select" | "insert" | "update" | "delete" | "values" | "other";

export interface StatementShape {
  /** Bodies of the WITH queries, in written order. */
  readonly ctes: Range[];
  /** The statement after its WITH clause. */
  readonly main: Range;
  readonly kind: StatementKind;
}

export function statementShape(p: ParsedSql, r: Range): StatementShape {
  let lo = r.lo;
  // A parenthesised statement: look inside.
  if (p.isPunct(lo, "(") && p.close(lo) === r.hi - 1) {
    return statementShape(p, { lo: lo + 1, hi: r.hi - 1 });
  }
  const ctes: Range[] = [];
  if (keyword(p.sig[lo]) === "WITH") {
    lo++;
    if (keyword(p.sig[lo]) === "RECURSIVE") lo++;
    for (;;) {
      lo++; // the query's name
      if (p.isPunct(lo, "(")) lo = p.close(lo) + 1; // column names
      if (keyword(p.sig[lo]) !== "AS") throw new SqlSyntaxError("WITH query without AS");
      lo++;
      if (keyword(p.sig[lo]) === "NOT") lo++;
      if (keyword(p.sig[lo]) === "MATERIALIZED") lo++;
      if (!p.isPunct(lo, "(")) throw new SqlSyntaxError("WITH query body must be parenthesised");
      ctes.push({ lo: lo + 1, hi: p.close(lo) });
      lo = p.close(lo) + 1;
      if (!p.isPunct(lo, ",")) break;
      lo++;
    }
  }
  const first = keyword(p.sig[lo]);
  const kind: StatementKind =
    first === "SELECT" || p.isPunct(lo, "(")
      ? "select"
      : first === "INSERT"
        ? "insert"
        : first === "UPDATE"
          ? "update"
          : first === "DELETE"
            ? "delete"
            : first === "VALUES"
              ? "values"
              : "other";
  return { ctes, main: { lo, hi: r.hi }, kind };
}

/** Splits a SELECT at its depth-0 UNION / INTERSECT / EXCEPT; one arm when there is none. */
export function setOperationArms(p: ParsedSql, r: Range): Range[] {
  const arms: Range[] = [];
  let lo = r.lo;
  for (const i of p.depthZero(r)) {
    const k = keyword(p.sig[i]);
    if (k === "UNION" || k === "INTERSECT" || k === "EXCEPT") {
      arms.push({ lo, hi: i });
      lo = i + 1;
      const q = keyword(p.sig[lo]);
      if (q === "ALL" || q === "DISTINCT") lo++;
    }
  }
  arms.push({ lo, hi: r.hi });
  return arms;
}

export interface Clause {
  /** Upper-case clause keyword (`SELECT`, `FROM`, `ORDER`, `RETURNING`, ...). */
  readonly keyword: string;
  /** The clause's tokens after its keyword(s). */
  readonly body: Range;
}

/**
 * The depth-0 clauses of `r` that start with one of `keywords`, each running to the next one.
 * Tokens before the first clause keyword form a clause named "".
 */
export function clauses(p: ParsedSql, r: Range, keywords: readonly string[]): Clause[] {
  const starts: { keyword: string; at: number; bodyLo: number }[] = [];
  for (const i of p.depthZero(r)) {
    const k = keyword(p.sig[i]);
    if (!keywords.includes(k)) continue;
    const prev = keyword(p.sig[i - 1]);
    const next = keyword(p.sig[i + 1]);
    let bodyLo = i + 1;
    if (k === "FROM" && prev === "DISTINCT") continue; // IS [NOT] DISTINCT FROM
    if ((k === "GROUP" || k === "ORDER") && next !== "BY") continue;
    if (k === "GROUP" || k === "ORDER") bodyLo++;
    if (k === "FOR" && !["UPDATE", "SHARE", "NO", "KEY"].includes(next)) continue;
    if (k === "ON" && next !== "CONFLICT") continue;
    if (k === "ON") bodyLo++;
    starts.push({ keyword: k, at: i, bodyLo });
  }
  const out: Clause[] = [];
  const firstAt = starts[0]?.at ?? r.hi;
  if (firstAt > r.lo) out.push({ keyword: "", body: { lo: r.lo, hi: firstAt } });
  starts.forEach((s, n) => {
    out.push({ keyword: s.keyword, body: { lo: s.bodyLo, hi: starts[n + 1]?.at ?? r.hi } });
  });
  return out;
}

export const SELECT_CLAUSES = [
  "SELECT",
  "INTO",
  "FROM",
  "WHERE",
  "GROUP",
  "HAVING",
  "WINDOW",
  "ORDER",
  "LIMIT",
  "OFFSET",
  "FETCH",
  "FOR",
] as const;
export const INSERT_CLAUSES = ["ON", "RETURNING"] as const;
export const UPDATE_CLAUSES = ["SET", "FROM", "WHERE", "RETURNING"] as const;
export const DELETE_CLAUSES = ["USING", "WHERE", "RETURNING"] as const;

/** Where an INSERT's row source (VALUES, SELECT, WITH, DEFAULT VALUES) starts. */
export function insertSourceStart(p: ParsedSql, main: Range): number {
  for (const i of p.depthZero({ lo: main.lo + 1, hi: main.hi })) {
    const k = keyword(p.sig[i]);
    if (["VALUES", "SELECT", "WITH", "DEFAULT", "OVERRIDING"].includes(k)) return i;
    if (p.isPunct(i, "(") && p.opensQuery(i)) return i;
  }
  throw new SqlSyntaxError("INSERT without VALUES or SELECT");
}

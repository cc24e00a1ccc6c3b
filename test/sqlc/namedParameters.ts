// sqlc's named parameters (`@name`, `sqlc.arg(name)`, `sqlc.narg(name)`) rewritten to `$1..$n`
// exactly as sqlc does it: one number per name, numbered in the order sqlc's AST walk
// (internal/sql/astutils/rewrite.go) first meets each name. That walk is textual order except
// that a statement's WITH queries come after its body, an UPDATE's FROM comes after its WHERE,
// and OFFSET comes before LIMIT.

import { identName, keyword, type Token } from "./sqlTokens.ts";
import {
  clauses,
  INSERT_CLAUSES,
  insertSourceStart,
  type ParsedSql,
  type Range,
  SELECT_CLAUSES,
  setOperationArms,
  statementShape,
  UPDATE_CLAUSES,
} from "./statementShape.ts";

export interface NamedParameter {
  /** The name as sqlc sees it (unquoted names fold to lower case). */
  readonly name: string;
  /** 1-based position in the rewritten query. */
  readonly number: number;
  /** `sqlc.narg(name)`: the TypeScript type gets `| null`. */
  readonly nullable: boolean;
  /** The type written in the explicit cast that sqlc types the parameter from (`timestamptz`, `uuid[]`). */
  readonly castType: string;
}

export interface RewrittenParameters {
  /** The statement text with every named parameter replaced by `$n`. */
  readonly text: string;
  readonly parameters: NamedParameter[];
}

interface Occurrence {
  readonly name: string;
  readonly nullable: boolean;
  /** Token index range of the occurrence in `ParsedSql.sig`. */
  readonly lo: number;
  readonly hi: number;
}

export class ParameterError extends Error {}

function adjacent(a: Token | undefined, b: Token | undefined): boolean {
  return a !== undefined && b !== undefined && a.end === b.start;
}

function findOccurrences(p: ParsedSql): Occurrence[] {
  const out: Occurrence[] = [];
  const sig = p.sig;
  for (let i = 0; i < sig.length; i++) {
    const t = sig[i] as Token;
    if (t.kind === "positionalParam") {
      throw new ParameterError(
        `positional parameter ${t.text}: name every parameter (@name, or sqlc.narg(name) when it may be NULL)`,
      );
    }
    const name = sig[i + 1];
    if (
      t.kind === "op" &&
      t.text === "@" &&
      (name?.kind === "ident" || name?.kind === "quotedIdent") &&
      adjacent(t, name)
    ) {
      out.push({ name: identName(name), nullable: false, lo: i, hi: i + 2 });
      i++;
      continue;
    }
    if (keyword(t) === "SQLC" && p.isPunct(i + 1, ".")) {
      const fn = keyword(sig[i + 2]);
      const arg = sig[i + 4];
      const exact =
        p.isPunct(i + 3, "(") &&
        p.isPunct(i + 5, ")") &&
        [t, sig[i + 1], sig[i + 2], sig[i + 3], arg].every((tok, n, all) =>
          adjacent(tok, all[n + 1] ?? sig[i + 5]),
        );
      if (fn === "SLICE" || fn === "EMBED") {
        throw new ParameterError(`sqlc.${fn.toLowerCase()}() is not supported for PostgreSQL here`);
      }
      if ((fn !== "ARG" && fn !== "NARG") || !exact || arg === undefined) {
        throw new ParameterError(
          `write sqlc.arg(name) / sqlc.narg(name) on one line without spaces (near offset ${t.start})`,
        );
      }
      const argName =
        arg.kind === "string" ? arg.text.slice(1, -1) : arg.kind === "ident" ? identName(arg) : "";
      if (argName === "") throw new ParameterError(`bad sqlc.${fn.toLowerCase()}() argument`);
      out.push({ name: argName, nullable: fn === "NARG", lo: i, hi: i + 6 });
      i += 5;
    }
  }
  return out;
}

/** Occurrences in the order sqlc's AST walk visits them. */
function sqlcOrder(p: ParsedSql, occurrences: readonly Occurrence[]): Occurrence[] {
  const at = new Map(occurrences.map((o) => [o.lo, o]));
  const out: Occurrence[] = [];

  const visitExpr = (r: Range): void => {
    for (let i = r.lo; i < r.hi; i++) {
      const o = at.get(i);
      if (o) {
        out.push(o);
        i = o.hi - 1;
      } else if (p.isOpen(i)) {
        const inner = { lo: i + 1, hi: p.close(i) };
        if (p.isPunct(i, "(") && p.opensQuery(i)) visitStatement(inner);
        else visitExpr(inner);
        i = p.close(i);
      }
    }
  };

  const SELECT_RANK: Record<string, number> = {
    "": 0,
    SELECT: 1,
    INTO: 2,
    FROM: 3,
    WHERE: 4,
    GROUP: 5,
    HAVING: 6,
    WINDOW: 7,
    ORDER: 8,
    OFFSET: 9,
    LIMIT: 10,
    FETCH: 10,
    FOR: 11,
  };
  const UPDATE_RANK: Record<string, number> = { "": 0, SET: 1, WHERE: 2, FROM: 3, RETURNING: 4 };

  const visitClauses = (list: ReturnType<typeof clauses>, rank: Record<string, number>): void => {
    const sorted = [...list].sort((a, b) => (rank[a.keyword] ?? 0) - (rank[b.keyword] ?? 0));
    for (const c of sorted) visitExpr(c.body);
  };

  const hasOccurrence = (r: Range): boolean => occurrences.some((o) => o.lo >= r.lo && o.lo < r.hi);

  const visitStatement = (r: Range): void => {
    const shape = statementShape(p, r);
    const visitCtes = () => {
      for (const c of shape.ctes) visitStatement(c);
    };
    const main = shape.main;
    switch (shape.kind) {
      case "select": {
        const arms = setOperationArms(p, main);
        if (arms.length === 1) {
          if (p.isPunct(main.lo, "(") && p.close(main.lo) === main.hi - 1) {
            visitStatement(main);
          } else {
            visitClauses(clauses(p, main, SELECT_CLAUSES), SELECT_RANK);
          }
          visitCtes();
          return;
        }
        const last = arms[arms.length - 1] as Range;
        const trailing = clauses(p, last, ["ORDER", "LIMIT", "OFFSET", "FETCH"]).filter(
          (c) => c.keyword !== "",
        );
        if (trailing.some((c) => hasOccurrence(c.body))) {
          throw new ParameterError(
            "a named parameter in the ORDER BY/LIMIT/OFFSET of a UNION/INTERSECT/EXCEPT is numbered out of text order by sqlc; move the set operation into a subquery",
          );
        }
        // sqlc visits the set operation's WITH before its arms.
        visitCtes();
        for (const arm of arms) visitStatement(arm);
        return;
      }
      case "insert": {
        const source = insertSourceStart(p, main);
        visitExpr({ lo: main.lo, hi: source });
        for (const c of clauses(p, { lo: source, hi: main.hi }, INSERT_CLAUSES)) {
          if (c.keyword === "") visitStatement(c.body);
          else visitExpr(c.body);
        }
        visitCtes();
        return;
      }
      case "update":
        visitClauses(clauses(p, main, UPDATE_CLAUSES), UPDATE_RANK);
        visitCtes();
        return;
      default:
        visitExpr(main);
        visitCtes();
    }
  };

  visitStatement(p.whole);
  if (out.length !== occurrences.length) {
    throw new ParameterError("internal: the statement walk missed a named parameter");
  }
  return out;
}

const MULTIWORD_TYPE_TAILS: Record<string, string[][]> = {
  TIMESTAMP: [
    ["WITH", "TIME", "ZONE"],
    ["WITHOUT", "TIME", "ZONE"],
  ],
  TIME: [
    ["WITH", "TIME", "ZONE"],
    ["WITHOUT", "TIME", "ZONE"],
  ],
  DOUBLE: [["PRECISION"]],
  CHARACTER: [["VARYING"]],
  BIT: [["VARYING"]],
};

/** The type name written after `::` at token `i`, or null when there is no cast there. */
export function castTypeAt(p: ParsedSql, i: number): { text: string; end: number } | null {
  if (!p.isPunct(i, "::")) return null;
  let j = i + 1;
  const first = p.sig[j];
  if (!first || (first.kind !== "ident" && first.kind !== "quotedIdent")) return null;
  j++;
  if (p.isPunct(j, ".") && p.sig[j + 1]) j += 2; // schema-qualified
  for (const tail of MULTIWORD_TYPE_TAILS[keyword(first)] ?? []) {
    if (tail.every((word, n) => keyword(p.sig[j + n]) === word)) j += tail.length;
  }
  if (p.isPunct(j, "(")) j = p.close(j) + 1; // typmod
  while (p.isPunct(j, "[")) j = p.close(j) + 1;
  return { text: p.source({ lo: i + 1, hi: j }), end: j };
}

export function rewriteNamedParameters(p: ParsedSql): RewrittenParameters {
  const occurrences = findOccurrences(p);
  const ordered = sqlcOrder(p, occurrences);
  const byName = new Map<string, NamedParameter>();
  for (const o of ordered) {
    const known = byName.get(o.name);
    if (known) {
      if (known.nullable !== o.nullable) {
        throw new ParameterError(
          `parameter ${o.name} is used both as sqlc.narg() and as @${o.name}/sqlc.arg(); pick one`,
        );
      }
      continue;
    }
    const cast = castTypeAt(p, o.hi);
    if (!cast) {
      const written = p.source({ lo: o.lo, hi: o.hi });
      throw new ParameterError(
        `parameter ${written} needs an explicit cast where sqlc first meets it, e.g. ${written}::uuid (sqlc types and null-checks parameters from that cast)`,
      );
    }
    byName.set(o.name, {
      name: o.name,
      number: byName.size + 1,
      nullable: o.nullable,
      castType: cast.text,
    });
  }
  // Apply the edits back to front so earlier offsets stay valid.
  let text = p.text;
  for (const o of [...occurrences].sort((a, b) => b.lo - a.lo)) {
    const param = byName.get(o.name) as NamedParameter;
    const start = (p.sig[o.lo] as Token).start;
    const end = (p.sig[o.hi - 1] as Token).end;
    text = `${text.slice(0, start)}$${param.number}${text.slice(end)}`;
  }
  return { text, parameters: [...byName.values()] };
}

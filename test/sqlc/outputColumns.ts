// The output column list of a statement (its SELECT list or RETURNING list), each item classified
// the way the emulator's nullability rules need: a plain column reference, an explicit cast, or
// any other expression; and which relations sit on the nullable side of a LEFT JOIN.
import { type AstNode, fieldsIf, names, nodeOf, SqlSyntaxError } from "./pgAst.ts";

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
      /** count(...), or COALESCE(...) with a non-NULL literal argument: never NULL. */
      readonly neverNull: boolean;
    };

export interface OutputItem {
  readonly alias: string | null;
  readonly form: ItemForm;
}

function isNonNullConstant(value: unknown): boolean {
  const constant = fieldsIf(value, "A_Const");
  return constant !== null && constant.isnull !== true;
}

function classify(value: unknown): ItemForm {
  const column = fieldsIf(value, "ColumnRef");
  if (column) {
    const fields = Array.isArray(column.fields) ? column.fields : [];
    if (fields.some((f) => fieldsIf(f, "A_Star"))) return { kind: "star" };
    const parts = names(fields);
    return {
      kind: "plain",
      qualifier: parts.length > 1 ? (parts[parts.length - 2] as string) : null,
      column: parts[parts.length - 1] as string,
    };
  }
  const cast = fieldsIf(value, "TypeCast");
  if (cast) {
    const operand = fieldsIf(cast.arg, "A_Const");
    return { kind: "cast", operandIsNull: operand?.isnull === true };
  }
  const call = fieldsIf(value, "FuncCall");
  if (call && names(call.funcname).at(-1) === "count")
    return { kind: "expression", neverNull: true };
  const coalesce = fieldsIf(value, "CoalesceExpr");
  if (coalesce && Array.isArray(coalesce.args)) {
    return { kind: "expression", neverNull: coalesce.args.some(isNonNullConstant) };
  }
  return { kind: "expression", neverNull: false };
}

/** The SELECT that supplies a statement's columns: a set operation's leftmost arm. */
function selectCore(select: Record<string, unknown>): Record<string, unknown> {
  let core = select;
  while (core.op !== undefined && core.op !== "SETOP_NONE" && core.larg) {
    core = core.larg as Record<string, unknown>;
  }
  return core;
}

/** The statement's output items, or null when it returns no rows (DML without RETURNING). */
export function outputItems(statement: AstNode): OutputItem[] | null {
  const node = nodeOf(statement);
  if (!node) return null;
  const [kind, fields] = node;
  // PostgreSQL 18 wraps RETURNING in a returningClause (for its OLD/NEW aliases).
  const returning = (fields.returningClause as { exprs?: unknown } | undefined)?.exprs;
  const list =
    kind === "SelectStmt" ? selectCore(fields).targetList : (fields.returningList ?? returning);
  if (!Array.isArray(list)) return kind === "SelectStmt" ? [] : null;
  return list.map((item) => {
    const target = fieldsIf(item, "ResTarget") ?? {};
    return {
      alias: typeof target.name === "string" ? target.name : null,
      form: classify(target.val),
    };
  });
}

export interface JoinNullability {
  /** Aliases (or bare relation names) on the nullable side of a LEFT JOIN. */
  readonly nullable: ReadonlySet<string>;
}

/** The name a FROM item is referred to by: its alias, else the relation's (or function's) name. */
function itemName(kind: string, fields: Record<string, unknown>): string {
  const alias = (fields.alias as { aliasname?: string } | undefined)?.aliasname;
  if (alias) return alias;
  if (kind === "RangeVar") return String(fields.relname ?? "");
  if (kind === "RangeFunction") {
    const [first] = (fields.functions as { List?: { items?: unknown[] } }[] | undefined) ?? [];
    return names(fieldsIf(first?.List?.items?.[0], "FuncCall")?.funcname).at(-1) ?? "";
  }
  return "";
}

function scanFromItem(value: unknown, nullable: boolean, out: Set<string>): void {
  const node = nodeOf(value);
  if (!node) return;
  const [kind, fields] = node;
  if (kind === "JoinExpr") {
    if (fields.jointype === "JOIN_RIGHT" || fields.jointype === "JOIN_FULL") {
      throw new SqlSyntaxError(
        "RIGHT/FULL JOIN: the sqlc emulator infers nullability only through LEFT JOIN; rewrite it as a LEFT JOIN",
      );
    }
    scanFromItem(fields.larg, nullable, out);
    scanFromItem(fields.rarg, nullable || fields.jointype === "JOIN_LEFT", out);
    return;
  }
  const name = itemName(kind, fields);
  if (nullable && name) out.add(name);
}

/**
 * Which relations of the statement's FROM/USING list a LEFT JOIN makes nullable. RIGHT and FULL
 * joins are refused: the emulator does not infer nullability through them.
 */
export function joinNullability(statement: AstNode): JoinNullability {
  const out = new Set<string>();
  const node = nodeOf(statement);
  if (node) {
    const [kind, fields] = node;
    const from =
      kind === "SelectStmt"
        ? selectCore(fields).fromClause
        : kind === "DeleteStmt"
          ? fields.usingClause
          : fields.fromClause;
    if (Array.isArray(from)) for (const item of from) scanFromItem(item, false, out);
  }
  return { nullable: out };
}

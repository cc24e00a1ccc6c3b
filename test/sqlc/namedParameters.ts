// sqlc's named parameters (`@name`, `sqlc.arg(name)`, `sqlc.narg(name)`) rewritten to `$1..$n`
// exactly as sqlc does it (internal/sql/rewrite/parameters.go): one number per name, in the order
// sqlc's AST walk first meets each name, each occurrence's text replaced at its byte location.
import { type AstNode, fieldsIf, names, SqlSyntaxError, Utf8Text, walk } from "./pgAst.ts";

export interface NamedParameter {
  /** The name as sqlc sees it (unquoted names fold to lower case). */
  readonly name: string;
  /** 1-based position in the rewritten query. */
  readonly number: number;
  /** `sqlc.narg(name)`: the TypeScript type gets `| null`. */
  readonly nullable: boolean;
  /** The type of the explicit cast sqlc types the parameter from (`timestamptz`, `uuid[]`, `int4`). */
  readonly castType: string;
}

export interface RewrittenParameters {
  /** The statement text with every named parameter replaced by `$n`. */
  readonly text: string;
  readonly parameters: NamedParameter[];
}

export class ParameterError extends Error {}

interface Occurrence {
  readonly name: string;
  readonly nullable: boolean;
  /** Byte range of the text sqlc replaces. */
  readonly lo: number;
  readonly hi: number;
  readonly castType: string | null;
}

/** A TypeName as a type PostgreSQL resolves (`pg_catalog.int4` -> `int4`, bounds -> `[]`). */
function typeNameText(typeName: unknown): string {
  const t = typeName as { names?: unknown; arrayBounds?: unknown[] } | undefined;
  const parts = names(t?.names);
  if (parts[0] === "pg_catalog") parts.shift();
  return parts.join(".") + "[]".repeat(t?.arrayBounds?.length ?? 0);
}

function castTypeOf(castFields: Record<string, unknown> | null): string | null {
  return castFields ? typeNameText(castFields.typeName) : null;
}

/** The name inside `sqlc.arg(...)` (a column reference or a string constant). */
function funcArgName(args: unknown): { name: string; quoted: boolean } | null {
  const [arg] = Array.isArray(args) ? args : [];
  const column = fieldsIf(arg, "ColumnRef");
  if (column) return { name: names(column.fields).join("."), quoted: false };
  const constant = fieldsIf(arg, "A_Const") as { sval?: { sval?: string } } | null;
  if (typeof constant?.sval?.sval === "string") return { name: constant.sval.sval, quoted: true };
  return null;
}

/** The column name at the far left of an operator expression (`x::jsonb - 'owner'` -> x). */
function leftOperandName(value: unknown): string | null {
  const expr = fieldsIf(value, "A_Expr");
  if (expr) return leftOperandName(expr.lexpr);
  const cast = fieldsIf(value, "TypeCast");
  if (cast) return leftOperandName(cast.arg);
  return names(fieldsIf(value, "ColumnRef")?.fields).join(".") || null;
}

function findOccurrences(source: Utf8Text, statement: AstNode): Occurrence[] {
  const found: Occurrence[] = [];
  walk(statement, (kind, fields, parent) => {
    const location = Number(fields.location ?? 0);
    if (kind === "ParamRef") {
      throw new ParameterError(
        `positional parameter $${String(fields.number)}: name it (@name or sqlc.arg(name)) so the generated code has named arguments`,
      );
    }
    if (kind === "A_Expr" && names(fields.name).join(".") === "@" && fields.lexpr === undefined) {
      const cast = fieldsIf(fields.rexpr, "TypeCast");
      const operand = cast ? cast.arg : fields.rexpr;
      const name = names(fieldsIf(operand, "ColumnRef")?.fields).join(".");
      if (!name) {
        const lhs = leftOperandName(fields.rexpr);
        if (lhs) {
          throw new ParameterError(
            `@${lhs} is followed by an operator that binds tighter than the prefix @ (PostgreSQL reads @(${lhs} ...), and sqlc would take the whole expression as one parameter): write (@${lhs}::type)`,
          );
        }
        return true; // `@ expr`: the absolute-value operator, not a parameter
      }
      found.push({
        name,
        nullable: false,
        lo: location,
        hi: location + 1 + Buffer.byteLength(name),
        castType: castTypeOf(cast),
      });
      return false;
    }
    if (kind === "FuncCall") {
      const [schema, fn] = names(fields.funcname);
      if (schema !== "sqlc" || fn === undefined) return true;
      if (fn !== "arg" && fn !== "narg") {
        throw new ParameterError(
          `sqlc.${fn}(): only sqlc.arg() and sqlc.narg() are supported (the pg driver of sqlc-gen-typescript 0.1.3 has no slices)`,
        );
      }
      const arg = funcArgName(fields.args);
      const written = arg && `sqlc.${fn}(${arg.quoted ? `'${arg.name}'` : arg.name})`;
      if (
        !arg ||
        !written ||
        source.slice(location, location + Buffer.byteLength(written)) !== written
      ) {
        throw new ParameterError(
          `write sqlc.${fn}(name) on one line without spaces: sqlc replaces exactly that text`,
        );
      }
      const parentCast = parent ? fieldsIf(parent, "TypeCast") : null;
      found.push({
        name: arg.name,
        nullable: fn === "narg",
        lo: location,
        hi: location + Buffer.byteLength(written),
        castType: castTypeOf(parentCast),
      });
      return false;
    }
    return true;
  });
  return found;
}

/** Numbers `statement`'s named parameters as sqlc does and rewrites `sql` (its source) to `$n`. */
export function rewriteNamedParameters(sql: string, statement: AstNode): RewrittenParameters {
  const source = new Utf8Text(sql);
  const occurrences = findOccurrences(source, statement);
  const byName = new Map<string, NamedParameter>();
  for (const o of occurrences) {
    const known = byName.get(o.name);
    if (known) {
      if (known.nullable !== o.nullable) {
        throw new ParameterError(
          `parameter ${o.name} is used both as sqlc.narg() and as @${o.name}/sqlc.arg(); pick one`,
        );
      }
      continue;
    }
    if (o.castType === null) {
      const written = source.slice(o.lo, o.hi);
      throw new ParameterError(
        `parameter ${written} needs an explicit cast where sqlc first meets it, e.g. ${written}::uuid (sqlc types and null-checks parameters from that cast)`,
      );
    }
    byName.set(o.name, {
      name: o.name,
      number: byName.size + 1,
      nullable: o.nullable,
      castType: o.castType,
    });
  }
  const pieces: Buffer[] = [];
  let at = 0;
  for (const o of [...occurrences].sort((a, b) => a.lo - b.lo)) {
    if (o.lo < at) throw new SqlSyntaxError("overlapping parameters");
    const param = byName.get(o.name) as NamedParameter;
    pieces.push(source.bytes.subarray(at, o.lo), Buffer.from(`$${param.number}`));
    at = o.hi;
  }
  pieces.push(source.bytes.subarray(at));
  return { text: Buffer.concat(pieces).toString("utf8"), parameters: [...byName.values()] };
}

// Turns one annotated statement into what sqlc hands its codegen plugin (plugin.Query): the
// rewritten text, the parameters and the output columns with their types and nullability,
// asking the live database instead of sqlc's own catalog. The rules are in generate.ts's header.
import type pg from "pg";
import type { Catalog } from "./catalog.ts";
import { type DescribedColumn, describeStatement } from "./describeStatement.ts";
import { rewriteNamedParameters } from "./namedParameters.ts";
import {
  type JoinNullability,
  joinNullability,
  type OutputItem,
  outputItems,
} from "./outputColumns.ts";
import { type AstNode, parseStatement } from "./pgAst.ts";
import { type AnnotatedStatement, type QueryCommand, stripComments } from "./queryFile.ts";

/** The fields of sqlc's plugin.Column the TypeScript plugin reads. */
export interface PluginColumn {
  readonly name: string;
  /** pg_type name of the type (of the element type for arrays), as the plugin's switch knows it. */
  readonly typeName: string;
  readonly isArray: boolean;
  readonly notNull: boolean;
}

/** The fields of sqlc's plugin.Query the TypeScript plugin reads. */
export interface PluginQuery {
  readonly name: string;
  readonly cmd: QueryCommand;
  /** The statement as sqlc rewrites it: `$n` parameters, comment lines dropped, no `;`. */
  readonly text: string;
  readonly params: PluginColumn[];
  readonly columns: PluginColumn[];
}

export class QueryAnalysisError extends Error {}

interface Context {
  readonly client: pg.ClientBase;
  readonly catalog: Catalog;
  /** Cache of view column nullability, by "oid:attnum". */
  readonly viewColumns: Map<string, Promise<boolean>>;
}

export function analysisContext(client: pg.ClientBase, catalog: Catalog): Context {
  return { client, catalog, viewColumns: new Map() };
}

export async function analyzeQuery(ctx: Context, q: AnnotatedStatement): Promise<PluginQuery> {
  const fail = (why: string): never => {
    throw new QueryAnalysisError(`${q.name} (line ${q.line}): ${why}`);
  };
  let parsed: AstNode;
  let rewritten: ReturnType<typeof rewriteNamedParameters>;
  try {
    parsed = parseStatement(q.raw);
    rewritten = rewriteNamedParameters(q.raw, parsed);
  } catch (e) {
    return fail((e as Error).message);
  }
  const text = stripComments(rewritten.text);
  if (/[`\\]|\$\{/.test(text)) {
    fail(
      "the query text contains a backtick, a backslash or ${, which sqlc-gen-typescript copies unescaped into a template literal; rewrite it (e.g. chr(92) for a backslash)",
    );
  }
  let described: Awaited<ReturnType<typeof describeStatement>>;
  try {
    described = await describeStatement(ctx.client, text);
  } catch (e) {
    return fail(`PostgreSQL rejects it: ${(e as Error).message}`);
  }

  const params: PluginColumn[] = [];
  for (const param of rewritten.parameters) {
    const castOid = await ctx.catalog.typeOidOf(param.castType);
    if (castOid === null) fail(`parameter ${param.name}: unknown type ${param.castType}`);
    const inferred = described.parameterTypeOids[param.number - 1];
    if (inferred !== castOid) {
      fail(
        `parameter ${param.name} is cast to ${param.castType} where sqlc first meets it, but PostgreSQL infers another type; cast every occurrence the same way`,
      );
    }
    const type = await ctx.catalog.type(castOid as number);
    params.push({
      name: param.name,
      typeName: type.name,
      isArray: type.isArray,
      notNull: !param.nullable,
    });
  }

  const items = outputItems(parsed);
  if ((q.cmd === ":one" || q.cmd === ":many") && described.columns.length === 0) {
    fail(`${q.cmd} needs output columns (a SELECT list or RETURNING); use :exec`);
  }
  const columns: PluginColumn[] = [];
  if (described.columns.length > 0) {
    if (!items || items.length !== described.columns.length) {
      fail(
        "could not match the output list to PostgreSQL's columns (no SELECT * / t.*; list columns)",
      );
    }
    let joins: JoinNullability;
    try {
      joins = joinNullability(parsed);
    } catch (e) {
      return fail((e as Error).message);
    }
    for (const [i, column] of described.columns.entries()) {
      const item = (items as OutputItem[])[i] as OutputItem;
      const where = `output column ${i + 1} (${item.alias ?? column.name})`;
      if (item.form.kind === "star") fail(`${where}: list the columns instead of *`);
      if (item.form.kind === "expression") {
        fail(
          `${where} is an expression: cast it and name it, e.g. count(*)::int AS total — sqlc types an uncast expression from its own catalog, which sqlc-gen-typescript maps differently`,
        );
      }
      if (item.form.kind === "cast" && item.alias === null) {
        fail(
          `${where}: name it with AS (sqlc and PostgreSQL name unaliased expressions differently)`,
        );
      }
      if (item.form.kind === "plain" && item.form.qualifier === null && joins.nullable.size > 0) {
        fail(`${where}: qualify the column with its table alias (the query has a LEFT JOIN)`);
      }
      const type = await ctx.catalog.type(column.typeOid);
      columns.push({
        name: column.name,
        typeName: type.name,
        isArray: type.isArray,
        notNull: await itemNotNull(ctx, item, column, joins),
      });
    }
  }
  return { name: q.name, cmd: q.cmd, text, params, columns };
}

/** Nullability rules shared by queries and view definitions (see generate.ts). */
async function itemNotNull(
  ctx: Context,
  item: OutputItem,
  column: DescribedColumn,
  joins: JoinNullability,
): Promise<boolean> {
  const form = item.form;
  switch (form.kind) {
    case "cast":
      return !form.operandIsNull;
    case "expression":
      return form.neverNull;
    case "star":
      return false;
    case "plain": {
      if (form.qualifier !== null && joins.nullable.has(form.qualifier)) return false;
      if (form.qualifier === null && joins.nullable.size > 0) return false;
      if (column.tableOid === 0) return false;
      const source = await ctx.catalog.column(column.tableOid, column.columnNumber);
      if (!source) return false;
      if (source.relkind === "r" || source.relkind === "p") return source.notNull;
      if (source.relkind === "v")
        return viewColumnNotNull(ctx, column.tableOid, column.columnNumber);
      return false;
    }
  }
}

/** A view column is NOT NULL when its defining item is, by the same rules, on the view's query. */
function viewColumnNotNull(ctx: Context, viewOid: number, attnum: number): Promise<boolean> {
  const key = `${viewOid}:${attnum}`;
  let known = ctx.viewColumns.get(key);
  if (!known) {
    known = (async () => {
      // Anything the emulator cannot follow in a view's definition counts as nullable.
      try {
        return await viewItemNotNull(ctx, viewOid, attnum);
      } catch {
        return false;
      }
    })();
    ctx.viewColumns.set(key, known);
  }
  return known;
}

async function viewItemNotNull(ctx: Context, viewOid: number, attnum: number): Promise<boolean> {
  const definition = await ctx.catalog.viewDefinition(viewOid);
  const parsed = parseStatement(definition);
  const items = outputItems(parsed);
  const described = await describeStatement(ctx.client, definition);
  const item = items?.[attnum - 1];
  const column = described.columns[attnum - 1];
  if (!item || !column || items?.length !== described.columns.length) return false;
  return itemNotNull(ctx, item, column, joinNullability(parsed));
}

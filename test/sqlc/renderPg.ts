// Prints one queries file the way sqlc-gen-typescript 0.1.3 prints it for `driver: pg`
// (src/app.ts + src/drivers/pg.ts, through the TypeScript printer: four-space indent, one blank
// line after every top-level node, no trailing commas). Byte-for-byte, quirks included: the
// header has no version lines, a repeated column name gets `_2` (and a third one `_2` again).
import type { PluginColumn, PluginQuery } from "./analyzeQuery.ts";

const NUMBER_TYPES = new Set([
  "float4",
  "float8",
  "int2",
  "int4",
  "oid",
  "serial",
  "serial2",
  "serial4",
  "smallserial",
]);
const DATE_TYPES = new Set(["date", "time", "timetz", "timestamp", "timestamptz"]);
// Types the plugin maps to something this emulator does not reproduce (imports, object types).
const UNSUPPORTED_TYPES = new Set(["interval", "point", "circle"]);

export class RenderError extends Error {}

/** The plugin's Driver.columnType. */
export function columnType(column: PluginColumn): string {
  let typeName = column.typeName;
  if (typeName.startsWith("pg_catalog.")) typeName = typeName.slice("pg_catalog.".length);
  if (UNSUPPORTED_TYPES.has(typeName)) {
    throw new RenderError(`${column.name}: type ${typeName} is not supported by this emulator`);
  }
  let typ = "string";
  if (typeName === "bool") typ = "boolean";
  else if (typeName === "bytea") typ = "Buffer";
  else if (typeName === "json" || typeName === "jsonb") typ = "any";
  else if (NUMBER_TYPES.has(typeName)) typ = "number";
  else if (DATE_TYPES.has(typeName)) typ = "Date";
  if (column.isArray) typ = `${typ}[]`;
  return column.notNull ? typ : `${typ} | null`;
}

/** The plugin's utlis.fieldName: lower-case, then `_x` -> `X`. */
export function fieldName(name: string): string {
  return name.toLowerCase().replace(/([_][a-z])/g, (group) => group.toUpperCase().replace("_", ""));
}

/** app.ts renames repeated column names (and keeps its own off-by-one bookkeeping). */
function dedupeColumnNames(columns: readonly PluginColumn[]): PluginColumn[] {
  const colmap = new Map<string, number>();
  return columns.map((column) => {
    if (!column.name) return column;
    const count = colmap.get(column.name) ?? 0;
    const name = count > 0 ? `${column.name}_${count + 1}` : column.name;
    colmap.set(name, count + 1);
    return { ...column, name };
  });
}

const I1 = "    ";
const I2 = I1 + I1;

function interfaceDecl(name: string, columns: readonly PluginColumn[]): string {
  const members = columns.map((c) => `${I1}${fieldName(c.name)}: ${columnType(c)};\n`).join("");
  return `export interface ${name} {\n${members}}`;
}

function queryCall(textName: string, params: readonly PluginColumn[], indent: string): string {
  const values = params.map((p) => `args.${fieldName(p.name)}`).join(", ");
  return (
    `client.query({\n` +
    `${indent}${I1}text: ${textName},\n` +
    `${indent}${I1}values: [${values}],\n` +
    `${indent}${I1}rowMode: "array"\n` +
    `${indent}})`
  );
}

function rowObject(columns: readonly PluginColumn[], indent: string): string {
  const members = columns.map((c, i) => `${indent}${I1}${fieldName(c.name)}: row[${i}]`);
  return `{\n${members.join(",\n")}\n${indent}}`;
}

function renderQuery(query: PluginQuery): string[] {
  const nodes: string[] = [];
  const lowerName = (query.name[0] ?? "").toLowerCase() + query.name.slice(1);
  const textName = `${lowerName}Query`;
  nodes.push(`export const ${textName} = \`-- name: ${query.name} ${query.cmd}\n${query.text}\`;`);
  const columns = dedupeColumnNames(query.columns);
  let argIface: string | undefined;
  let returnIface: string | undefined;
  if (query.params.length > 0) {
    argIface = `${query.name}Args`;
    nodes.push(interfaceDecl(argIface, query.params));
  }
  if (columns.length > 0) {
    returnIface = `${query.name}Row`;
    nodes.push(interfaceDecl(returnIface, columns));
  }
  const signature = (returns: string) =>
    `export async function ${lowerName}(client: Client${argIface ? `, args: ${argIface}` : ""}): Promise<${returns}>`;
  switch (query.cmd) {
    case ":exec":
      nodes.push(`${signature("void")} {\n${I1}await ${queryCall(textName, query.params, I1)};\n}`);
      break;
    case ":one":
      nodes.push(
        `${signature(`${returnIface ?? "void"} | null`)} {\n` +
          `${I1}const result = await ${queryCall(textName, query.params, I1)};\n` +
          `${I1}if (result.rows.length !== 1) {\n${I2}return null;\n${I1}}\n` +
          `${I1}const row = result.rows[0];\n` +
          `${I1}return ${rowObject(columns, I1)};\n}`,
      );
      break;
    case ":many":
      nodes.push(
        `${signature(`${returnIface ?? "void"}[]`)} {\n` +
          `${I1}const result = await ${queryCall(textName, query.params, I1)};\n` +
          `${I1}return result.rows.map(row => {\n` +
          `${I2}return ${rowObject(columns, I2)};\n` +
          `${I1}});\n}`,
      );
      break;
  }
  return nodes;
}

const PREAMBLE = [
  'import { QueryArrayConfig, QueryArrayResult } from "pg";',
  `interface Client {\n${I1}query: (config: QueryArrayConfig) => Promise<QueryArrayResult>;\n}`,
];

/** The file the plugin writes for one queries file (`queue.sql` -> `queue_sql.ts`). */
export function renderPgFile(queries: readonly PluginQuery[]): string {
  const nodes = [...PREAMBLE, ...queries.flatMap(renderQuery)];
  return `// Code generated by sqlc. DO NOT EDIT.\n\n${nodes.map((n) => `${n}\n\n`).join("")}`;
}

/** app.ts's output file name: the first "." becomes "_". */
export function generatedFileName(queriesFile: string): string {
  return `${queriesFile.replace(".", "_")}.ts`;
}

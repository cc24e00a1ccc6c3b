// The sqlc emulator's database-free parts, pinned to sqlc's and sqlc-gen-typescript 0.1.3's
// behaviour: named-parameter numbering, statement splitting and comment stripping, output column
// classification, and the plugin's exact printed shape.
import { describe, expect, it } from "vitest";
import { type NamedParameter, rewriteNamedParameters } from "./namedParameters.ts";
import { joinNullability, outputItems } from "./outputColumns.ts";
import { parseStatement } from "./pgAst.ts";
import { adaptToProject, revertProjectAdaptations } from "./projectAdaptations.ts";
import { splitQueryFile, stripComments } from "./queryFile.ts";
import { fieldName, generatedFileName, renderPgFile } from "./renderPg.ts";

const rewriteSql = (sql: string) => rewriteNamedParameters(sql, parseStatement(sql));

function rewrite(sql: string): { text: string; params: string[] } {
  const r = rewriteSql(sql);
  return { text: r.text, params: r.parameters.map((p: NamedParameter) => `${p.number}:${p.name}`) };
}

describe("named parameters", () => {
  it("gives one number per name, in order of first appearance", () => {
    expect(rewrite("SELECT a FROM t WHERE a = @x::int AND b = @y::text AND c = @x::int")).toEqual({
      text: "SELECT a FROM t WHERE a = $1::int AND b = $2::text AND c = $1::int",
      params: ["1:x", "2:y"],
    });
  });

  it("rewrites sqlc.arg and sqlc.narg, and only sqlc.narg is nullable", () => {
    const r = rewriteSql(
      "UPDATE t SET a = sqlc.narg(a)::text, b = sqlc.arg('b')::int WHERE id = @id::uuid",
    );
    expect(r.text).toBe("UPDATE t SET a = $1::text, b = $2::int WHERE id = $3::uuid");
    expect(r.parameters.map((p) => [p.name, p.nullable, p.castType])).toEqual([
      ["a", true, "text"],
      ["b", false, "int4"],
      ["id", false, "uuid"],
    ]);
  });

  it("numbers a statement's WITH queries after its body, as sqlc's AST walk does", () => {
    expect(
      rewrite("WITH c AS (SELECT @a::int AS v) INSERT INTO t (x, y) SELECT c.v, @b::int FROM c")
        .params,
    ).toEqual(["1:b", "2:a"]);
  });

  it("numbers an UPDATE's FROM after its WHERE, and OFFSET before LIMIT", () => {
    expect(
      rewrite(
        "UPDATE t SET a = @a::int FROM (SELECT @f::int AS f) s WHERE t.b = @w::int RETURNING t.a",
      ).params,
    ).toEqual(["1:a", "2:w", "3:f"]);
    expect(rewrite("SELECT a FROM t LIMIT @l::int OFFSET @o::int").params).toEqual(["1:o", "2:l"]);
  });

  it("walks subqueries and nested WITH queries in place", () => {
    expect(
      rewrite(
        "SELECT a FROM t WHERE a IN (WITH w AS (SELECT @deep::int AS i) SELECT w.i + @mid::int FROM w) AND b = @last::int",
      ).params,
    ).toEqual(["1:mid", "2:deep", "3:last"]);
  });

  it("leaves operators containing @ alone and folds unquoted names to lower case", () => {
    expect(rewrite("SELECT a FROM t WHERE tags @> @Tags::jsonb AND x <@ @outside::jsonb")).toEqual({
      text: "SELECT a FROM t WHERE tags @> $1::jsonb AND x <@ $2::jsonb",
      params: ["1:tags", "2:outside"],
    });
  });

  it("ignores @name inside strings, quoted names and comments", () => {
    expect(
      rewrite(`SELECT '@no', "@no" FROM t -- @no\nWHERE a = @yes::int /* @no */`).params,
    ).toEqual(["1:yes"]);
  });

  it("numbers a set operation's LIMIT before its arms, and counts bytes, not characters", () => {
    expect(
      rewrite("SELECT a FROM t WHERE a = @x::int UNION SELECT b FROM u LIMIT @n::int").params,
    ).toEqual(["1:n", "2:x"]);
    expect(rewrite("SELECT 'é→' AS s, @x::int AS x").text).toBe("SELECT 'é→' AS s, $1::int AS x");
  });

  it.each([
    ["SELECT a FROM t WHERE a = $1", /positional parameter \$1/],
    ["SELECT a FROM t WHERE a = @a", /needs an explicit cast.*@a::uuid/],
    ["SELECT a FROM t WHERE a = sqlc.arg( a )::int", /one line without spaces/],
    ["SELECT a FROM t WHERE a = sqlc.narg(a)::int OR b = @a::int", /both as sqlc.narg/],
    ["SELECT a FROM t WHERE @tags::jsonb - 'owner' = '{}'", /binds tighter.*\(@tags::type\)/],
    ["SELECT a FROM t WHERE a = sqlc.slice(a)", /only sqlc.arg\(\) and sqlc.narg\(\)/],
  ])("refuses %s", (sql, error) => {
    expect(() => rewriteSql(sql)).toThrow(error);
  });
});

describe("query files", () => {
  const file = [
    "-- header comment",
    "",
    "-- name: First :one",
    "-- What it does.",
    "SELECT a FROM t;",
    "",
    "-- name: Second :exec",
    "DELETE FROM t  -- trailing comment stays",
    "  -- indented comment stays",
    "WHERE a = 1;",
    "",
  ].join("\n");

  it("splits statements at top-level semicolons and reads their names", () => {
    const statements = splitQueryFile(file, "x.sql");
    expect(statements.map((s) => [s.name, s.cmd, s.line])).toEqual([
      ["First", ":one", 3],
      ["Second", ":exec", 7],
    ]);
  });

  it("strips comment lines like sqlc, keeping a blank line a leading comment leaves behind", () => {
    const [first, second] = splitQueryFile(file, "x.sql");
    expect(stripComments(first?.raw ?? "")).toBe("\nSELECT a FROM t");
    expect(stripComments(second?.raw ?? "")).toBe(
      "DELETE FROM t  -- trailing comment stays\n  -- indented comment stays\nWHERE a = 1",
    );
  });

  it.each([
    ["-- name: Foo :execrows\nSELECT 1;", /generates only :one, :many and :exec/],
    ["-- name: Foo :bogus\nSELECT 1;", /invalid query type/],
    ["-- name: Foo\nSELECT 1;", /missing query type/],
    ["SELECT 1;", /without a "-- name/],
  ])("refuses %j", (text, error) => {
    expect(() => splitQueryFile(text, "x.sql")).toThrow(error);
  });
});

describe("output columns", () => {
  const forms = (sql: string) => {
    const items = outputItems(parseStatement(sql));
    return items === null ? null : items.map((i) => ({ alias: i.alias, ...i.form }));
  };

  it("classifies plain columns, casts and other expressions", () => {
    expect(
      forms(
        "SELECT t.a, b AS bee, count(*)::int AS n, NULL::text AS nothing, (x = y)::boolean AS eq, a + 1 AS sum, COALESCE(c, false) AS c, count(*) AS raw FROM t",
      ),
    ).toEqual([
      { alias: null, kind: "plain", qualifier: "t", column: "a" },
      { alias: "bee", kind: "plain", qualifier: null, column: "b" },
      { alias: "n", kind: "cast", operandIsNull: false },
      { alias: "nothing", kind: "cast", operandIsNull: true },
      { alias: "eq", kind: "cast", operandIsNull: false },
      { alias: "sum", kind: "expression", neverNull: false },
      { alias: "c", kind: "expression", neverNull: true },
      { alias: "raw", kind: "expression", neverNull: true },
    ]);
  });

  it("reads RETURNING lists and the first arm of a UNION", () => {
    expect(forms("UPDATE t SET a = 1 RETURNING id, a")?.map((f) => f.kind)).toEqual([
      "plain",
      "plain",
    ]);
    expect(forms("WITH w AS (SELECT 1) SELECT x.a FROM x UNION SELECT 1")).toHaveLength(1);
    expect(forms("DELETE FROM t WHERE a = 1")).toBeNull();
  });

  it("finds the relations a LEFT JOIN makes nullable, through nested joins, and refuses RIGHT/FULL", () => {
    const nullable = (sql: string) => [...joinNullability(parseStatement(sql)).nullable].sort();
    expect(
      nullable(
        "SELECT a.x FROM a LEFT JOIN b ON true JOIN c ON true LEFT JOIN (d JOIN e AS ee ON true) ON true",
      ),
    ).toEqual(["b", "d", "ee"]);
    expect(
      nullable("UPDATE t SET x = 1 FROM a LEFT JOIN unnest(@ids::uuid[]) ON true RETURNING t.x"),
    ).toEqual(["unnest"]);
    expect(() => nullable("SELECT a.x FROM a FULL JOIN b ON true")).toThrow(/RIGHT\/FULL/);
  });
});

describe("printing (sqlc-gen-typescript 0.1.3, driver pg)", () => {
  const col = (name: string, typeName: string, notNull = true, isArray = false) => ({
    name,
    typeName,
    notNull,
    isArray,
  });

  it("prints the plugin's exact shape for :one, :many and :exec", () => {
    const out = renderPgFile([
      {
        name: "GetThing",
        cmd: ":one",
        text: "SELECT id, n, n FROM things\nWHERE id = $1::uuid",
        params: [col("id", "uuid")],
        columns: [col("id", "uuid"), col("n", "int4", false), col("n", "int4")],
      },
      {
        name: "ListThings",
        cmd: ":many",
        text: "SELECT tags FROM things",
        params: [],
        columns: [col("tags", "text", true, true)],
      },
      {
        name: "TouchThing",
        cmd: ":exec",
        text: "UPDATE things SET at = $1::timestamptz",
        params: [col("touched_at", "timestamptz"), col("data", "jsonb", false)],
        columns: [],
      },
    ]);
    expect(out).toBe(`import { QueryArrayConfig, QueryArrayResult } from "pg";

interface Client {
    query: (config: QueryArrayConfig) => Promise<QueryArrayResult>;
}

export const getThingQuery = \`-- name: GetThing :one
SELECT id, n, n FROM things
WHERE id = $1::uuid\`;

export interface GetThingArgs {
    id: string;
}

export interface GetThingRow {
    id: string;
    n: number | null;
    n_2: number;
}

export async function getThing(client: Client, args: GetThingArgs): Promise<GetThingRow | null> {
    const result = await client.query({
        text: getThingQuery,
        values: [args.id],
        rowMode: "array"
    });
    if (result.rows.length !== 1) {
        return null;
    }
    const row = result.rows[0];
    return {
        id: row[0],
        n: row[1],
        n_2: row[2]
    };
}

export const listThingsQuery = \`-- name: ListThings :many
SELECT tags FROM things\`;

export interface ListThingsRow {
    tags: string[];
}

export async function listThings(client: Client): Promise<ListThingsRow[]> {
    const result = await client.query({
        text: listThingsQuery,
        values: [],
        rowMode: "array"
    });
    return result.rows.map(row => {
        return {
            tags: row[0]
        };
    });
}

export const touchThingQuery = \`-- name: TouchThing :exec
UPDATE things SET at = $1::timestamptz\`;

export interface TouchThingArgs {
    touchedAt: Date;
    data: any | null;
}

export async function touchThing(client: Client, args: TouchThingArgs): Promise<void> {
    await client.query({
        text: touchThingQuery,
        values: [args.touchedAt, args.data],
        rowMode: "array"
    });
}

`);
  });

  it("maps names and types as the plugin does", () => {
    expect(fieldName("template_version_preset_id")).toBe("templateVersionPresetId");
    expect(fieldName("geometry_3857")).toBe("geometry_3857");
    expect(fieldName("jobID")).toBe("jobid");
    expect(generatedFileName("queue.sql")).toBe("queue_sql.ts");
  });

  it("adapts the output to this project's compiler settings and nothing else", () => {
    const plugin = renderPgFile([
      {
        name: "One",
        cmd: ":one",
        text: "SELECT 1::int AS x",
        params: [],
        columns: [col("x", "int4")],
      },
    ]);
    const adapted = adaptToProject(plugin);
    expect(adapted).toContain('import type { QueryArrayConfig, QueryArrayResult } from "pg";');
    expect(adapted).toContain(
      "    const row = result.rows[0];\n    if (!row) {\n        return null;\n    }\n",
    );
    expect(revertProjectAdaptations(adapted)).toBe(plugin);
    const handEdited = adapted.replace("x: number;", "x: string;");
    expect(revertProjectAdaptations(handEdited)).toContain("x: string;");
  });
});

// The catalog facts the emulator needs, read from the live database: type names by oid,
// whether a relation's column is NOT NULL, and view definitions.
import type pg from "pg";

export interface TypeInfo {
  /** pg_type.typname of the type, or of the element type for an array (`int4`, `uuid`). */
  readonly name: string;
  readonly isArray: boolean;
  /** Enum types map to string, like every name the plugin does not know. */
  readonly isEnum: boolean;
}

export interface ColumnSource {
  readonly relkind: string;
  readonly notNull: boolean;
}

export class Catalog {
  private readonly client: pg.ClientBase;
  private readonly types = new Map<number, TypeInfo>();
  private readonly views = new Map<number, string>();

  constructor(client: pg.ClientBase) {
    this.client = client;
  }

  async type(oid: number): Promise<TypeInfo> {
    const known = this.types.get(oid);
    if (known) return known;
    const { rows } = await this.client.query<{
      typname: string;
      typtype: string;
      elemname: string | null;
      elemtype: string | null;
    }>(
      `SELECT t.typname, t.typtype, e.typname AS elemname, e.typtype AS elemtype
       FROM pg_type t LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typcategory = 'A'
       WHERE t.oid = $1`,
      [oid],
    );
    const row = rows[0];
    if (!row) throw new Error(`unknown type oid ${oid}`);
    const info: TypeInfo = row.elemname
      ? { name: row.elemname, isArray: true, isEnum: row.elemtype === "e" }
      : { name: row.typname, isArray: false, isEnum: row.typtype === "e" };
    this.types.set(oid, info);
    return info;
  }

  /** The type a cast names, resolved as PostgreSQL resolves it (`int` -> int4, `uuid[]`). */
  async typeOidOf(typeText: string): Promise<number | null> {
    const { rows } = await this.client.query<{ oid: number | null }>(
      "SELECT to_regtype($1)::oid::int AS oid",
      [typeText],
    );
    return rows[0]?.oid ?? null;
  }

  async column(tableOid: number, columnNumber: number): Promise<ColumnSource | null> {
    const { rows } = await this.client.query<ColumnSource>(
      `SELECT c.relkind::text AS relkind, a.attnotnull AS "notNull"
       FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
       WHERE c.oid = $1 AND a.attnum = $2`,
      [tableOid, columnNumber],
    );
    return rows[0] ?? null;
  }

  async viewDefinition(viewOid: number): Promise<string> {
    const known = this.views.get(viewOid);
    if (known !== undefined) return known;
    const { rows } = await this.client.query<{ def: string }>(
      "SELECT pg_get_viewdef($1::oid) AS def",
      [viewOid],
    );
    const def = (rows[0]?.def ?? "").trim().replace(/;$/, "");
    this.views.set(viewOid, def);
    return def;
  }
}

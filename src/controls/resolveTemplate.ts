// Templates and versions named on the command line, by id, by name, or (templates) by
// "organization/name" as `status` prints them.

import type pg from "pg";
import { ConfigError } from "../config/configError.ts";
import {
  type FindTemplatesRow,
  type FindTemplateVersionsRow,
  findTemplates,
  findTemplateVersions,
} from "../db/sql/templates_sql.ts";

export async function resolveTemplate(pool: pg.Pool, ref: string): Promise<FindTemplatesRow> {
  const rows = await findTemplates(pool, { ref });
  const [first] = rows;
  if (first === undefined) {
    throw new ConfigError(
      `no template is named or has the id ${JSON.stringify(ref)} (deleted templates excluded); \`prebuildsd plan\` lists the templates`,
    );
  }
  if (rows.length > 1) {
    const where = rows.map((r) => `${r.organizationName}/${r.name}: ${r.id}`).join(", ");
    throw new ConfigError(
      `template name ${JSON.stringify(ref)} exists in ${rows.length} organizations (${where}): pass organization/template or the template id`,
    );
  }
  return first;
}

export async function resolveVersion(
  pool: pg.Pool,
  template: FindTemplatesRow,
  ref: string,
): Promise<FindTemplateVersionsRow> {
  const rows = await findTemplateVersions(pool, { templateId: template.id, ref });
  const [first] = rows;
  if (first === undefined) {
    throw new ConfigError(
      `template ${JSON.stringify(template.name)} has no version named or with the id ${JSON.stringify(ref)}`,
    );
  }
  if (rows.length > 1) {
    throw new ConfigError(
      `template ${JSON.stringify(template.name)} has ${rows.length} versions named ${JSON.stringify(ref)} (${rows.map((r) => r.id).join(", ")}): pass the version id`,
    );
  }
  return first;
}

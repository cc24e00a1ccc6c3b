// The demo's world: one organization and one template with two versions, each with two presets
// that want prebuilds. Version 1 starts active; the demo promotes version 2 later. Like test
// seeding, this is data set-up, not daemon logic, so its SQL lives here and not in queries/.
import type pg from "pg";

export interface DemoWorld {
  readonly organizationId: string;
  readonly organizationName: string;
  /** A platform user who claims a prebuild during the demo. */
  readonly userId: string;
  readonly userName: string;
  readonly templateId: string;
  readonly templateName: string;
  readonly versions: readonly { readonly id: string; readonly name: string }[];
}

// Version 1 wants more prebuilds than the provisioners build at once, so its queue is still full
// when the demo promotes version 2 (which wants fewer).
const PRESETS = [
  { name: "small", desired: { v1: 4, v2: 3 }, parameters: { cpu: "2", memory: "4Gi" } },
  { name: "large", desired: { v1: 3, v2: 2 }, parameters: { cpu: "8", memory: "16Gi" } },
] as const;

/** `suffix` keeps the names unique in a database that already has a demo (`demo --force`). */
export async function seedDemo(pool: pg.Pool, suffix = ""): Promise<DemoWorld> {
  const organizationName = `demo-org${suffix}`;
  const userName = `alice${suffix}`;
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    const org = await client.query<{ id: string }>(
      "INSERT INTO organizations (name) VALUES ($1) RETURNING id",
      [organizationName],
    );
    const organizationId = org.rows[0]?.id as string;
    const user = await client.query<{ id: string }>(
      "INSERT INTO users (username) VALUES ($1) RETURNING id",
      [userName],
    );
    const userId = user.rows[0]?.id as string;
    const templateId = crypto.randomUUID();
    const versions = [
      { id: crypto.randomUUID(), name: "v1" as const },
      { id: crypto.randomUUID(), name: "v2" as const },
    ];
    await client.query(
      "INSERT INTO templates (id, organization_id, name, active_version_id) VALUES ($1, $2, 'dev-environment', $3)",
      [templateId, organizationId, versions[0]?.id],
    );
    for (const version of versions) {
      await client.query(
        "INSERT INTO template_versions (id, template_id, organization_id, name) VALUES ($1, $2, $3, $4)",
        [version.id, templateId, organizationId, version.name],
      );
      for (const preset of PRESETS) {
        const inserted = await client.query<{ id: string }>(
          "INSERT INTO template_version_presets (template_version_id, name, desired_instances) VALUES ($1, $2, $3) RETURNING id",
          [version.id, preset.name, preset.desired[version.name]],
        );
        for (const [name, value] of Object.entries(preset.parameters)) {
          await client.query(
            "INSERT INTO template_version_preset_parameters (template_version_preset_id, name, value) VALUES ($1, $2, $3)",
            [inserted.rows[0]?.id, name, value],
          );
        }
      }
    }
    await client.query("COMMIT");
    return {
      organizationId,
      organizationName,
      userId,
      userName,
      templateId,
      templateName: "dev-environment",
      versions,
    };
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

/** Templates already in the database (0 before its first migration): the demo seeds only into an
 *  empty database unless told to (`demo --force`, issue #14). */
export async function countExistingTemplates(pool: pg.Pool): Promise<number> {
  const exists = await pool.query<{ present: boolean }>(
    "SELECT to_regclass('templates') IS NOT NULL AS present",
  );
  if (!exists.rows[0]?.present) return 0;
  const count = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM templates");
  return count.rows[0]?.n ?? 0;
}

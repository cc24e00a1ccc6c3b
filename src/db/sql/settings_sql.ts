import type { QueryArrayConfig, QueryArrayResult } from "pg";

interface Client {
    query: (config: QueryArrayConfig) => Promise<QueryArrayResult>;
}

export const getPrebuildsSettingsQuery = `-- name: GetPrebuildsSettings :one

SELECT COALESCE(
  (SELECT sc.value FROM site_configs sc WHERE sc.key = 'prebuilds_settings'),
  '{}'
)::text AS settings_json`;

export interface GetPrebuildsSettingsRow {
    settingsJson: string;
}

export async function getPrebuildsSettings(client: Client): Promise<GetPrebuildsSettingsRow | null> {
    const result = await client.query({
        text: getPrebuildsSettingsQuery,
        values: [],
        rowMode: "array"
    });
    if (result.rows.length !== 1) {
        return null;
    }
    const row = result.rows[0];
    if (!row) {
        return null;
    }
    return {
        settingsJson: row[0]
    };
}

export const upsertPrebuildsSettingsQuery = `-- name: UpsertPrebuildsSettings :exec
INSERT INTO site_configs (key, value)
VALUES ('prebuilds_settings', $1::text)
ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`;

export interface UpsertPrebuildsSettingsArgs {
    settingsJson: string;
}

export async function upsertPrebuildsSettings(client: Client, args: UpsertPrebuildsSettingsArgs): Promise<void> {
    await client.query({
        text: upsertPrebuildsSettingsQuery,
        values: [args.settingsJson],
        rowMode: "array"
    });
}


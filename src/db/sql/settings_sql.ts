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


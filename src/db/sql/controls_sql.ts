import type { QueryArrayConfig, QueryArrayResult } from "pg";

interface Client {
    query: (config: QueryArrayConfig) => Promise<QueryArrayResult>;
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


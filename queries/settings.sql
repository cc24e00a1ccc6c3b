-- The prebuilds settings row (site_configs key 'prebuilds_settings', JSON
-- {"reconciliation_paused": bool}), shared with the platform so its UI and ours agree.

-- name: GetPrebuildsSettings :one
-- The raw JSON text, '{}' when the row is absent; the caller decodes it and survives bad JSON.
SELECT COALESCE(
  (SELECT sc.value FROM site_configs sc WHERE sc.key = 'prebuilds_settings'),
  '{}'
)::text AS settings_json;

-- name: UpsertPrebuildsSettings :exec
INSERT INTO site_configs (key, value)
VALUES ('prebuilds_settings', @settings_json::text)
ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;

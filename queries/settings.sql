-- The prebuilds settings row (site_configs key 'prebuilds_settings', JSON
-- {"reconciliation_paused": bool}), shared with the platform so its UI and ours agree. Read only:
-- the write is in controls.sql (src/controls/reconciliationPause.ts).

-- name: GetPrebuildsSettings :one
-- The raw JSON text, '{}' when the row is absent; the caller decodes it and survives bad JSON.
SELECT COALESCE(
  (SELECT sc.value FROM site_configs sc WHERE sc.key = 'prebuilds_settings'),
  '{}'
)::text AS settings_json;

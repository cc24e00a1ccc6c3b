-- Operator controls (issue #15): the global pause switch, scoped pauses, runtime scale
-- overrides, hard-limit resets and rollout strategies. Reads the planner needs live in
-- snapshot.sql; these are the writes (and the look-ups that validate them).

-- The prebuilds settings row (site_configs key 'prebuilds_settings', JSON
-- {"reconciliation_paused": bool}), shared with the platform.
-- name: UpsertPrebuildsSettings :exec
INSERT INTO site_configs (key, value)
VALUES ('prebuilds_settings', @settings_json::text)
ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;

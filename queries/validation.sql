-- Which presets would fail validation if a prebuild were created now: a required parameter of the
-- preset's version, without a default, that the preset does not set. The same rule CreatePrebuilds
-- applies at write time (queries/prebuilds.sql, reference §4.6), read ahead of it so `plan` and
-- the status page can say a create will fail (issue #14).

-- name: ListPresetsMissingRequiredParameters :many
SELECT
  tvp.id AS preset_id,
  array_agg(tvpar.name ORDER BY tvpar.name)::text[] AS missing_parameters
FROM template_version_presets tvp
JOIN template_version_parameters tvpar ON tvpar.template_version_id = tvp.template_version_id
WHERE tvp.id = ANY(@preset_ids::uuid[])
  AND tvpar.required
  AND tvpar.default_value = ''
  AND NOT EXISTS (
    SELECT 1
    FROM template_version_preset_parameters pp
    WHERE pp.template_version_preset_id = tvp.id AND pp.name = tvpar.name
  )
GROUP BY tvp.id
ORDER BY tvp.id;

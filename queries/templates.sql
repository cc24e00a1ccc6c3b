-- Operator commands: promote a template version, invalidate a template's prebuilds, and the
-- preset health counts `prebuildsd status` shows (pause and the last cycle live in settings.sql and
-- reconciliation.sql).

-- A template named by id, by name, or by "organization/name" as `status` prints it (names
-- case-insensitive), deleted ones excluded. Several rows means the name exists in several
-- organizations: the caller asks for organization/name or the id.
-- name: FindTemplates :many
SELECT t.id, t.name, t.active_version_id, o.name AS organization_name
FROM templates t
JOIN organizations o ON o.id = t.organization_id
WHERE NOT t.deleted
  AND (
    t.id::text = lower(@ref::text)
    OR lower(t.name) = lower(@ref::text)
    OR lower(o.name || '/' || t.name) = lower(@ref::text)
  )
ORDER BY o.name, t.id;

-- A version of one template, by id or by name; newest first when a name repeats.
-- name: FindTemplateVersions :many
SELECT tv.id, tv.name, tv.created_at
FROM template_versions tv
WHERE tv.template_id = @template_id::uuid
  AND (tv.id::text = lower(@ref::text) OR tv.name = @ref::text)
ORDER BY tv.created_at DESC, tv.id;

-- Promotion is only this update; the next cycle notices the new active version (reference §9).
-- The join re-checks that the version belongs to the template at write time.
-- name: PromoteTemplateVersion :one
UPDATE templates t
SET active_version_id = tv.id, updated_at = now()
FROM template_versions tv
WHERE t.id = @template_id::uuid
  AND tv.id = @template_version_id::uuid
  AND tv.template_id = t.id
  AND NOT t.deleted
RETURNING t.id, tv.id AS template_version_id, tv.name AS template_version_name;

-- Manual invalidation (reference §3.4): prebuilds created before this instant count as expired,
-- and only presets of the active version are targeted. "This instant" is the database's now(), the
-- clock created_at is stamped with (issue #11: an operator host's clock ahead of it would expire
-- every new prebuild).
-- name: InvalidateActiveVersionPresets :many
UPDATE template_version_presets p
SET last_invalidated_at = now()
FROM templates t
JOIN template_versions tv ON tv.id = t.active_version_id AND tv.template_id = t.id
WHERE t.id = @template_id::uuid
  AND p.template_version_id = tv.id
RETURNING p.id, p.name, p.desired_instances;

-- Presets that want prebuilds on active versions of live templates, by health.
-- name: CountActivePresetsByStatus :many
SELECT p.prebuild_status, count(*)::int AS presets
FROM template_version_presets p
JOIN template_versions tv ON tv.id = p.template_version_id
JOIN templates t ON t.id = tv.template_id AND t.active_version_id = tv.id
WHERE p.desired_instances IS NOT NULL AND NOT t.deleted AND t.deprecated = ''
GROUP BY p.prebuild_status
ORDER BY p.prebuild_status;

-- The unhealthy ones, by name, so `status` says which presets need attention.
-- name: ListUnhealthyActivePresets :many
SELECT o.name AS organization_name, t.name AS template_name, tv.name AS template_version_name,
       p.name AS preset_name, p.prebuild_status
FROM template_version_presets p
JOIN template_versions tv ON tv.id = p.template_version_id
JOIN templates t ON t.id = tv.template_id AND t.active_version_id = tv.id
JOIN organizations o ON o.id = t.organization_id
WHERE p.desired_instances IS NOT NULL AND NOT t.deleted AND t.deprecated = ''
  AND p.prebuild_status <> 'healthy'
ORDER BY o.name, t.name, p.name;
